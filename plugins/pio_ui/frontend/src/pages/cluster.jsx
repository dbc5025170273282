// Cluster inventory and health: every unit seen, its jobs, when it was last heard from.
import { useEffect, useState } from "preact/hooks";
import { get } from "../api.js";
import { Empty, UnitDot } from "../components.jsx";

export function Cluster() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    const load = () => get("/api/cluster").then((d) => { setData(d); setError(null); }).catch((e) => setError(e.message));
    load();
    const t = setInterval(load, 5000);
    return () => clearInterval(t);
  }, []);
  if (error) return <Empty title="The cluster cannot be listed">{error}</Empty>;
  if (!data) return <p aria-busy="true">Loading…</p>;
  const health = (u) => u.lost.length ? ["lost", `lost: ${u.lost.join(", ")}`]
    : u.last_seen_s === null ? ["off", "not heard from"] : u.last_seen_s > 60 ? ["sleeping", `silent ${Math.round(u.last_seen_s)} s`] : ["ready", "healthy"];
  return <section aria-labelledby="cluster-title">
    <h2 id="cluster-title">Cluster</h2>
    <p class="muted">From {data.source} · broker {data.mqtt.host}:{data.mqtt.port} · {data.mqtt.connected ? "connected" : "disconnected"} · {data.mqtt.messages.toLocaleString()} messages seen</p>
    <div class="table-wrap"><table class="striped">
      <thead><tr><th>Unit</th><th>Role</th><th>Health</th><th>Agent</th><th>Last heard</th><th>Jobs ({data.experiment})</th></tr></thead>
      <tbody>{data.units.map((u) => { const [cls, text] = health(u); return <tr data-unit={u.unit}>
        <td><UnitDot unit={u.unit} /> <strong>{u.unit}</strong></td>
        <td>{u.leader ? "leader" : "worker"}{u.inventory && !u.inventory.active ? " (inactive)" : ""}
          {u.inventory && u.inventory.address && <div class="muted">{u.inventory.address}</div>}</td>
        <td><span class={`badge state-${cls}`}>{text}</span></td>
        <td>{u.agent ? <span class={`badge state-${u.agent}`}>{u.agent}</span> : <span class="muted">none</span>}</td>
        <td>{u.last_seen_s === null ? "–" : `${u.last_seen_s} s ago`}</td>
        <td class="muted">{Object.entries(u.jobs).map(([j, s]) => `${j} (${s})`).join(", ") || "none"}</td>
      </tr>; })}</tbody>
    </table></div>
    {data.units.length === 0 && <Empty title="No units heard from yet" />}
  </section>;
}
