// Calibrations of this unit: each device's curves with their recorded points, set the active one.
import { useEffect, useRef, useState } from "preact/hooks";
import uPlot from "uplot";
import { enc, get, post } from "../api.js";
import { act, Empty } from "../components.jsx";

function CurvePlot({ cal }) {
  const box = useRef(null);
  useEffect(() => {
    const xs = [...new Set([...cal.curve.map((p) => p[0]), ...cal.recorded_x])].sort((a, b) => a - b);
    const curve = new Map(cal.curve.map((p) => [p[0], p[1]]));
    const points = new Map(cal.recorded_x.map((x, i) => [x, cal.recorded_y[i]]));
    const color = getComputedStyle(document.documentElement).getPropertyValue("--pico-primary").trim() || "#1f77b4";
    const muted = getComputedStyle(document.documentElement).getPropertyValue("--pico-muted-color").trim() || "#888";
    const u = new uPlot({
      width: box.current.clientWidth || 320, height: 180, legend: { show: false }, cursor: { show: false },
      scales: { x: { time: false } },
      axes: [{ stroke: muted, label: `${cal.x}${cal.x_unit ? ` (${cal.x_unit})` : ""}`, labelSize: 16 },
        { stroke: muted, label: `${cal.y}${cal.y_unit ? ` (${cal.y_unit})` : ""}`, labelSize: 16, size: 50 }],
      series: [{}, { stroke: color, width: 2, spanGaps: true, points: { show: false } },
        { stroke: "transparent", points: { show: true, size: 7, fill: "#d62728", stroke: "#d62728" } }],
    }, [xs, xs.map((x) => curve.get(x) ?? null), xs.map((x) => points.get(x) ?? null)], box.current);
    return () => u.destroy();
  }, [cal]);
  return <div ref={box} class="cal-plot" aria-label={`${cal.y} against ${cal.x}`} role="img" />;
}

export function Calibrations() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const load = () => get("/api/calibrations").then(setData).catch((e) => setError(e.message));
  useEffect(() => { load(); }, []);
  if (error) return <Empty title="Calibrations are unavailable">{error}</Empty>;
  if (!data) return <p aria-busy="true">Loading calibrations…</p>;
  const devices = [...new Set(data.calibrations.map((c) => c.device))];
  const activate = (c) => act(post(`/api/calibrations/${enc(c.device)}/active`, { name: c.name }), `${c.name} is now active for ${c.device}`).then(load).catch(() => {});
  return <section aria-labelledby="cal-title">
    <h2 id="cal-title">Calibrations <small>{data.unit}</small></h2>
    {!devices.length && <Empty title="No calibrations yet">Run <code>pio calibrate od</code>, <code>pio calibrate stirring</code> or <code>pio calibrate pump</code> on a unit.</Empty>}
    {devices.map((d) => <section>
      <h3>{d}</h3>
      <div class="cal-grid">
        {data.calibrations.filter((c) => c.device === d).map((c) => <article>
          <header><strong>{c.name}</strong> {c.active ? <span class="badge state-ready">active</span>
            : <button class="small secondary" onClick={() => activate(c)}>Set active</button>}</header>
          {c.error ? <p class="error">{c.error}</p> : <>
            <CurvePlot cal={c} />
            <small class="muted">{c.type} · {c.curve_type} fit · {c.recorded_x.length} points · {new Date(c.created_at).toLocaleString()}</small>
          </>}
        </article>)}
      </div>
    </section>)}
  </section>;
}
