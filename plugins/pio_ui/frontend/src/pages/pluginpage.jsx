// A page a plugin declared: charts, panels (a job's settings on every unit) and plain text.
import { useStore } from "../store.js";
import { ChartCard, Empty, StateBadge, UnitDot } from "../components.jsx";
import { declarations, SettingRow } from "./forms.jsx";

export function PluginPage({ arg }) {
  const catalog = useStore((s) => s.catalog);
  const experiment = useStore((s) => s.experiment);
  const jobs = useStore((s) => s.jobs);
  if (!catalog) return <p aria-busy="true">Loading…</p>;
  const page = catalog.pages.find((p) => p.name === arg);
  if (!page) return <Empty title={`No plugin page “${arg}”`}>It may have been uninstalled.</Empty>;
  return <section aria-labelledby="plugin-page-title">
    <h2 id="plugin-page-title">{page.title}</h2>
    {page.sections.map((s) => {
      if (s.type === "text") return <p class="plugin-text">{s.text}</p>;
      if (s.type === "chart") {
        const spec = catalog.series.find((x) => x.name === s.ref);
        return spec ? <ChartCard spec={spec} experiment={experiment} span={3600} /> : <p class="error">No chart {s.ref}</p>;
      }
      const panel = catalog.panels.find((p) => p.name === s.ref);
      if (!panel) return <p class="error">No panel {s.ref}</p>;
      const units = Object.keys(jobs).filter((u) => jobs[u][panel.job]);
      return <article class="panel" data-panel={panel.name}>
        <header><h3>{panel.title}</h3>{panel.description && <p class="muted">{panel.description}</p>}</header>
        {!units.length ? <p class="muted">{panel.job} is not running on any unit.</p>
          : units.map((u) => { const st = jobs[u][panel.job]; const decls = declarations(st);
            const by = Object.fromEntries(decls.map((d) => [d.name, d]));
            return <div class="panel-unit"><h4><UnitDot unit={u} /> {u} <StateBadge state={st["$state"]} /></h4>
              {panel.fields.map((f) => by[f.setting] ? <SettingRow unit={u} job={panel.job} decl={by[f.setting]} raw={st[f.setting]} /> : null)}
            </div>; })}
      </article>;
    })}
  </section>;
}
