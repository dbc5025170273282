// Logs: stored history from the database plus live lines, filtered by unit and level, searchable.
import { useEffect, useRef, useState } from "preact/hooks";
import { get } from "../api.js";
import { Empty, ErrorBox, UnitDot } from "../components.jsx";
import { on } from "../live.js";
import { useStore } from "../store.js";

const LEVELS = ["DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"];
const MAX_LINES = 1000;

export function Logs() {
  const experiment = useStore((s) => s.experiment);
  const units = useStore((s) => s.units);
  const [lines, setLines] = useState([]);
  const [unit, setUnit] = useState("");
  const [levels, setLevels] = useState(new Set(["INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL"]));
  const [q, setQ] = useState("");
  const [error, setError] = useState(null);
  const [paused, setPaused] = useState(false);
  const pausedRef = useRef(false);
  pausedRef.current = paused;
  useEffect(() => {
    const t = setTimeout(() => {
      get("/api/logs", { experiment, unit, q, levels: [...levels].join(","), limit: 500 })
        .then((r) => { setLines(r.logs); setError(r.history ? null : (r.error || "no stored logs: live lines only")); })
        .catch((e) => setError(e.message));
    }, 250);
    return () => clearTimeout(t);
  }, [experiment, unit, q, [...levels].join(",")]);
  useEffect(() => on("log", (events) => {
    if (pausedRef.current) return;
    const fresh = events.map((e) => [e[1], e[2], e[3], e[4], e[5]]);
    setLines((old) => [...fresh.reverse(), ...old].slice(0, MAX_LINES));
  }), []);
  const needle = q.toLowerCase();
  const shown = lines.filter((l) => (!unit || l[0] === unit) && levels.has(l[2])
    && (!needle || l[4].toLowerCase().includes(needle) || l[3].toLowerCase().includes(needle)));
  const toggle = (lv) => { const s = new Set(levels); if (s.has(lv)) s.delete(lv); else s.add(lv); setLevels(s); };
  return <section aria-labelledby="logs-title">
    <div class="page-head"><h2 id="logs-title">Logs <small>{experiment}</small></h2>
      <button class={paused ? "" : "secondary outline"} aria-pressed={paused} onClick={() => setPaused(!paused)}>{paused ? "Resume live" : "Pause live"}</button></div>
    <div class="filters">
      <select aria-label="Unit" value={unit} onInput={(e) => setUnit(e.target.value)}>
        <option value="">all units</option>{units.map((u) => <option value={u}>{u}</option>)}
      </select>
      <input type="search" aria-label="Search logs" placeholder="Search messages…" value={q} onInput={(e) => setQ(e.target.value)} />
      <fieldset class="levels" aria-label="Levels">
        {LEVELS.map((lv) => <label><input type="checkbox" checked={levels.has(lv)} onInput={() => toggle(lv)} />{lv.toLowerCase()}</label>)}
      </fieldset>
    </div>
    <ErrorBox error={error} />
    {!shown.length ? <Empty title="No log lines">Nothing matches these filters yet.</Empty>
      : <div class="log-table" role="table" aria-label="Log lines">
        {shown.map(([u, ts, lv, task, msg]) => <div class={`log-line lv-${lv}`} role="row">
          <span class="ts" role="cell">{new Date(ts).toLocaleString()}</span>
          <span class="unit" role="cell"><UnitDot unit={u} /> {u}</span>
          <span class="lv" role="cell">{lv.toLowerCase()}</span>
          <span class="task" role="cell">{task}</span>
          <span class="msg" role="cell">{msg}</span>
        </div>)}
      </div>}
  </section>;
}
