// Units: a card per unit with each job's state, start/stop/pause, settings editable in place,
// automation forms from the declared parameters, and plugins' panels; the same for all units.
import { useEffect, useState } from "preact/hooks";
import { get } from "../api.js";
import { act, Empty, jobPost, StateBadge, UnitDot } from "../components.jsx";
import { rememberUnits, useStore } from "../store.js";
import { AutomationDialog, declarations, SettingRow, StartDialog } from "./forms.jsx";

// services (registered with service=True: the leader's ui, mqtt_to_db, the agent) are on the cluster
// page, not on a bioreactor's card; the names stay here for plugins registered before the flag
const HIDDEN_JOBS = new Set(["ui", "mqtt_to_db", "agent"]);
const RUNNING = new Set(["ready", "sleeping", "init"]);

export function Units() {
  const experiment = useStore((s) => s.experiment);
  const catalog = useStore((s) => s.catalog);
  const units = useStore((s) => s.units);
  const [info, setInfo] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const load = () => get("/api/units", { experiment }).then((r) => { setInfo(r); rememberUnits(r.units); setError(null); })
      .catch((e) => setError(e.message));
    load();
    const t = setInterval(load, 15000);
    return () => clearInterval(t);
  }, [experiment]);
  if (error) return <Empty title="Units cannot be listed">{error}</Empty>;
  if (!info || !catalog) return <p aria-busy="true">Loading units…</p>;
  const jobs = catalog.jobs.filter((j) => j.kind === "job" && !j.service && !HIDDEN_JOBS.has(j.name));
  const actions = catalog.jobs.filter((j) => j.kind === "action");
  const shown = units.length ? units : info.units;
  return <section aria-labelledby="units-title">
    <div class="page-head"><h2 id="units-title">Units <small>{experiment}</small></h2></div>
    <AllUnits jobs={jobs} />
    {!shown.length ? <Empty title="No units yet">Units appear here once they publish (start a job with <code>pio run</code>).</Empty>
      : <div class="unit-grid">
        {shown.map((u) => <UnitCard unit={u} jobs={jobs} actions={actions} local={u === info.local_unit}
          seen={info.last_seen_s[u]} panels={catalog.panels} />)}
      </div>}
  </section>;
}

function AllUnits({ jobs }) {
  const [job, setJob] = useState(jobs.length ? jobs[0].name : "");
  const [dialog, setDialog] = useState(null);
  const entry = jobs.find((j) => j.name === job);
  if (!entry) return null;
  const run = (action) => act(jobPost("$all", job, action, {}), `${action} ${job}: sent to all units`).catch(() => {});
  return <details class="all-units">
    <summary>All units at once</summary>
    <div class="row">
      <select aria-label="Job for all units" value={job} onInput={(e) => setJob(e.target.value)}>
        {jobs.map((j) => <option value={j.name}>{j.name}</option>)}
      </select>
      <button onClick={() => setDialog(entry.automation_kind ? "auto" : "start")}>Start…</button>
      <button class="secondary" onClick={() => run("pause")}>Pause</button>
      <button class="secondary" onClick={() => run("resume")}>Resume</button>
      <button class="contrast" onClick={() => run("stop")}>Stop</button>
    </div>
    {dialog === "start" && <StartDialog unit="$all" job={job} entry={entry} onClose={() => setDialog(null)} />}
    {dialog === "auto" && <AutomationDialog unit="$all" job={job} entry={entry} running={false} onClose={() => setDialog(null)} />}
  </details>;
}

function UnitCard({ unit, jobs, actions, local, seen, panels }) {
  const unitJobs = useStore((s) => s.jobs[unit] || {});
  const [dialog, setDialog] = useState(null);
  const lostAll = seen !== undefined && seen > 60;
  return <article class="unit-card" data-unit={unit} aria-labelledby={`unit-${unit}`}>
    <header>
      <h3 id={`unit-${unit}`}><UnitDot unit={unit} /> {unit}</h3>
      <small class="muted">{local ? "this leader · " : ""}{seen === undefined ? "not seen yet" : lostAll ? `last seen ${Math.round(seen)} s ago` : "online"}</small>
    </header>
    <ul class="jobs">
      {jobs.map((j) => <JobRow unit={unit} entry={j} state={unitJobs[j.name]} openDialog={setDialog}
        panel={panels.find((p) => p.job === j.name)} />)}
    </ul>
    {actions.length > 0 && <footer class="actions">
      {actions.map((a) => <button class="secondary outline small" onClick={() => setDialog({ kind: "start", job: a.name, entry: a })}>{a.name.replace(/_/g, " ")}…</button>)}
    </footer>}
    {dialog && dialog.kind === "start" && <StartDialog unit={unit} job={dialog.job} entry={dialog.entry} onClose={() => setDialog(null)} />}
    {dialog && dialog.kind === "auto" && <AutomationDialog unit={unit} job={dialog.job} entry={dialog.entry}
      running={dialog.running} current={dialog.current} onClose={() => setDialog(null)} />}
  </article>;
}

function JobRow({ unit, entry, state, openDialog, panel }) {
  const s = state && state["$state"];
  const running = RUNNING.has(s);
  const [open, setOpen] = useState(false);
  const job = entry.name;
  const decls = declarations(state);
  const auto = entry.automation_kind;
  const start = () => openDialog(auto ? { kind: "auto", job, entry, running: false } : { kind: "start", job, entry });
  const post = (action, msg) => act(jobPost(unit, job, action, {}), msg).catch(() => {});
  let shown = decls;
  if (panel && panel.fields.length) {
    const by = Object.fromEntries(decls.map((d) => [d.name, d]));
    shown = panel.fields.map((f) => by[f.setting]).filter(Boolean);
  }
  return <li class={`job ${running ? "running" : ""}`} data-job={job} data-state={s || "off"}>
    <div class="job-head">
      <button class="link" aria-expanded={open} onClick={() => setOpen(!open)} disabled={!running && !decls.length}
        title={entry.help}>{panel ? panel.title : job.replace(/_/g, " ")}</button>
      {auto && running && state.automation_name && <span class="muted auto-name">{state.automation_name}</span>}
      <StateBadge state={s} />
      <span class="job-actions">
        {!running && <button class="small" onClick={start} disabled={!!entry.error} title={entry.error || `Start ${job}`}>Start</button>}
        {running && auto && <button class="small secondary outline" onClick={() => openDialog({ kind: "auto", job, entry, running: true, current: state.automation_name })}>Change</button>}
        {s === "ready" && <button class="small secondary" onClick={() => post("pause", `${job} paused`)}>Pause</button>}
        {s === "sleeping" && <button class="small" onClick={() => post("resume", `${job} resumed`)}>Resume</button>}
        {running && <button class="small contrast" onClick={() => post("stop", `stopping ${job}`)}>Stop</button>}
      </span>
    </div>
    {open && running && <div class="settings">
      {panel && panel.description && <p class="muted">{panel.description}</p>}
      {shown.length === 0 ? <p class="muted">No settings published.</p>
        : shown.map((d) => <SettingRow unit={unit} job={job} decl={d} raw={state[d.name]} />)}
    </div>}
  </li>;
}
