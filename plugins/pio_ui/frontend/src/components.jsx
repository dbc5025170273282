// Small building blocks shared by the pages.
import { useLayoutEffect, useRef, useState } from "preact/hooks";
import { enc, get, post } from "./api.js";
import { download, TimeChart } from "./chart.js";
import { splitKey, unitColor } from "./colors.js";
import { on } from "./live.js";
import { getState, toast } from "./store.js";

// One dosing-events request per page load, shared by the charts that draw markers.
const dosingCache = new Map();
function dosingEvents(experiment, start, end) {
  const key = `${experiment}/${Math.round(start / 10)}/${Math.round(end / 10)}`;
  if (!dosingCache.has(key)) {
    dosingCache.set(key, get("/api/dosing", { experiment, start: start.toFixed(0), end: end.toFixed(0) }));
    setTimeout(() => dosingCache.delete(key), 5000);
  }
  return dosingCache.get(key);
}

export const STATE_LABEL = { ready: "running", sleeping: "paused", init: "starting", disconnected: "stopped", lost: "lost" };

export function StateBadge({ state }) {
  const s = state || "off";
  return <span class={`badge state-${s}`}>{STATE_LABEL[s] || "off"}</span>;
}

export function UnitDot({ unit }) {
  return <span class="dot" style={{ background: unitColor(unit) }} aria-hidden="true" />;
}

export function Empty({ title, children }) {
  return <div class="empty" role="status"><strong>{title}</strong>{children && <p>{children}</p>}</div>;
}

export function ErrorBox({ error }) {
  if (!error) return null;
  return <p class="error" role="alert">{String(error)}</p>;
}

export function parseJSON(text, fallback = null) {
  try { return JSON.parse(text); } catch { return fallback; }
}

// What a published value means to a person: numbers rounded, JSON readings unwrapped.
export function showValue(raw, decl) {
  if (raw === undefined || raw === null || raw === "") return "–";
  if (decl && decl.datatype === "json") {
    const v = parseJSON(raw);
    if (v && typeof v === "object") {
      const key = Object.keys(v).find((k) => k !== "timestamp" && typeof v[k] === "number");
      if (key) return fmtNum(v[key]);
      return JSON.stringify(v).slice(0, 80);
    }
  }
  if (decl && decl.datatype === "boolean") return raw === "1" || raw === "true" ? "yes" : "no";
  const n = Number(raw);
  return raw.trim() !== "" && Number.isFinite(n) ? fmtNum(n) : raw;
}

export function fmtNum(n) {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 1000) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return Number(n.toPrecision(3)).toString();
}

// One input for a declared setting or parameter (type, unit, range, choices, default).
export function Field({ decl, value, onInput, id, autoFocus }) {
  const label = decl.name.replace(/_/g, " ");
  const range = [decl.minimum, decl.maximum].some((v) => v !== undefined)
    ? ` ${decl.minimum ?? ""}…${decl.maximum ?? ""}` : "";
  const hint = `${decl.description || ""}${range ? ` (range${range}${decl.unit ? " " + decl.unit : ""})` : ""}`;
  let input;
  if (decl.choices) {
    input = <select id={id} value={value ?? ""} onInput={(e) => onInput(e.target.value)}>
      <option value="">{decl.default !== undefined ? `default (${decl.default})` : "choose…"}</option>
      {decl.choices.map((c) => <option value={c}>{c}</option>)}
    </select>;
  } else if (decl.datatype === "boolean") {
    input = <input id={id} type="checkbox" role="switch" checked={value === true || value === "true"}
      onInput={(e) => onInput(e.target.checked)} />;
  } else {
    const numeric = decl.datatype === "float" || decl.datatype === "integer";
    input = <input id={id} type={numeric ? "number" : "text"} inputmode={numeric ? "decimal" : undefined}
      step={decl.datatype === "integer" ? 1 : "any"} min={decl.minimum} max={decl.maximum} autoFocus={autoFocus}
      placeholder={decl.default !== undefined && decl.default !== null ? String(decl.default) : ""}
      value={value ?? ""} onInput={(e) => onInput(e.target.value)} />;
  }
  return <label for={id} class="field">
    <span>{label}{decl.unit ? <small> [{decl.unit}]</small> : null}</span>
    {decl.unit && decl.datatype !== "boolean" && !decl.choices
      ? <div class="with-unit">{input}<span class="unit">{decl.unit}</span></div> : input}
    {hint && <small class="hint">{hint}</small>}
  </label>;
}

// A chart card: title, unit, legend chips (toggle lines), time readout, PNG/CSV download.
export function ChartCard({ spec, experiment, span, start, markers }) {
  const box = useRef(null);
  const readout = useRef(null);
  const chart = useRef(null);
  const [keys, setKeys] = useState([]);
  const [hidden, setHidden] = useState(new Set());
  const [status, setStatus] = useState("loading");
  useLayoutEffect(() => { // not after the next frame: the history request goes out with this render
    const c = new TimeChart(box.current, spec, { experiment, span, start,
      onLines: (k, ch) => { setKeys(k); setStatus(ch.error ? "error" : k.length ? "ok" : "empty"); } });
    c.readout = readout.current;
    chart.current = c;
    const loaded = c.load();
    const offs = [on("pt", (evs) => c.add(evs)), on("reconnect", () => c.load())];
    if (markers) {
      c.loadMarkers = async () => {
        const { start: s, end } = c.window();
        try {
          const r = await dosingEvents(experiment, s, end);
          c.setMarkers(r.events);
        } catch { /* markers are a nicety */ }
      };
      loaded.then(() => c.loadMarkers()); // after the lines: the history request goes alone
      offs.push(on("dose", (evs) => c.addMarkers(evs.map((e) => [e[1], e[2], e[3], e[4]]))));
      offs.push(on("reconnect", () => c.loadMarkers()));
    }
    return () => { offs.forEach((f) => f()); c.destroy(); };
  }, [spec.name, experiment, span, start]);
  const toggle = (k) => {
    chart.current.toggle(k);
    const h = new Set(hidden);
    if (h.has(k)) h.delete(k); else h.add(k);
    setHidden(h);
  };
  const fileBase = `${experiment}-${spec.name}-${new Date().toISOString().slice(0, 16).replace(/[:T]/g, "")}`;
  return <article class="chart-card" aria-label={`${spec.title} chart`} data-chart={spec.name} data-status={status}>
    <header>
      <h3>{spec.title} <small>({spec.unit})</small></h3>
      <div class="chart-tools">
        <button class="icon secondary outline" title="Download PNG" aria-label={`Download ${spec.title} as PNG`}
          onClick={async () => { const b = await chart.current.png(); if (b) download(b, fileBase + ".png"); }}>PNG</button>
        <button class="icon secondary outline" title="Download CSV" aria-label={`Download ${spec.title} as CSV`}
          onClick={() => download(chart.current.csv(), fileBase + ".csv")}>CSV</button>
      </div>
    </header>
    <div class="chart-box" ref={box} />
    {status === "empty" && <div class="chart-empty">No data yet for this window. It appears here as units publish.</div>}
    {status === "error" && <div class="chart-empty error">{chart.current && chart.current.error}</div>}
    <div class="readout" ref={readout} aria-hidden="true">{"\u00a0"}</div>
    <div class="legend">
      {keys.map((k) => <button class={`chip ${hidden.has(k) ? "off" : ""}`} aria-pressed={!hidden.has(k)} onClick={() => toggle(k)}>
        <span class="swatch" style={{ background: unitColor(splitKey(k).unit) }} />{k.replace(":", " ch")}</button>)}
    </div>
  </article>;
}

export function jobState(unit, job) {
  const j = getState().jobs[unit];
  return j && j[job] ? j[job]["$state"] : undefined;
}

export async function act(promise, ok) {
  try {
    const r = await promise;
    if (r && r.results) {
      const bad = Object.entries(r.results).filter(([, v]) => !v.ok);
      if (bad.length) toast(bad.map(([u, v]) => `${u}: ${v.error}`).join("; "), "error");
      else if (ok) toast(ok);
    } else if (ok) toast(ok);
    return r;
  } catch (e) {
    toast(e.message, "error");
    throw e;
  }
}

export function jobPost(unit, job, action, body) {
  return post(`/api/units/${enc(unit)}/jobs/${enc(job)}/${action}`, { experiment: getState().experiment, ...body });
}
