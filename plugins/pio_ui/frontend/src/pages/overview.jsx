// Experiment overview: live charts of every unit, one colour per unit, a shared time window.
import { useEffect, useState } from "preact/hooks";
import { enc, get } from "../api.js";
import { ChartCard, Empty } from "../components.jsx";
import { useStore } from "../store.js";

export const WINDOWS = [["1h", 3600], ["6h", 6 * 3600], ["24h", 86400], ["7d", 7 * 86400], ["all", null]];
const MARKED = new Set(["od", "od_filtered", "volume"]);

export function Overview() {
  const experiment = useStore((s) => s.experiment);
  const catalog = useStore((s) => s.catalog);
  const session = useStore((s) => s.session);
  const [win, setWin] = useState(localStorage.getItem("pio.window") || "24h");
  const [start, setStart] = useState(null);
  useEffect(() => {
    if (win !== "all") return;
    get(`/api/experiments/${enc(experiment)}/span`).then((r) => setStart(r.start || r.now - 86400))
      .catch(() => setStart(Date.now() / 1000 - 86400));
  }, [win, experiment]);
  const span = WINDOWS.find((w) => w[0] === win)[1];
  const pick = (w) => { localStorage.setItem("pio.window", w); setWin(w); };
  const series = catalog ? catalog.series : session ? session.series : null;
  return <section aria-labelledby="overview-title">
    <div class="page-head">
      <h2 id="overview-title">{experiment} <small>overview</small></h2>
      <div role="group" class="windows" aria-label="Time window">
        {WINDOWS.map(([id]) => <button class={win === id ? "" : "secondary outline"} aria-pressed={win === id}
          onClick={() => pick(id)}>{id === "all" ? "whole experiment" : `last ${id}`}</button>)}
      </div>
    </div>
    {session && !session.history && <p class="notice">{session.history_error || "No history database"}: charts show live data only.</p>}
    {!series ? <p aria-busy="true">Loading charts…</p>
      : !series.length ? <Empty title="No charts">No plugin declares a chart.</Empty>
        : (win === "all" && start === null) ? <p aria-busy="true">Finding when the experiment started…</p>
          : <div class="chart-grid">
            {series.map((s) => <ChartCard key={`${s.name}-${win}`} spec={s} experiment={experiment}
              span={span} start={start} markers={MARKED.has(s.name)} />)}
          </div>}
  </section>;
}
