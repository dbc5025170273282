// Plugins: what is installed, versions, hooks, and why one failed.
import { useEffect, useState } from "preact/hooks";
import { get } from "../api.js";
import { Empty } from "../components.jsx";

export function Plugins() {
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { get("/api/plugins").then(setData).catch((e) => setError(e.message)); }, []);
  if (error) return <Empty title="Plugins cannot be listed">{error}</Empty>;
  if (!data) return <p aria-busy="true">Loading…</p>;
  return <section aria-labelledby="plugins-title">
    <h2 id="plugins-title">Plugins</h2>
    <div class="table-wrap"><table class="striped">
      <thead><tr><th>Plugin</th><th>Version</th><th>Status</th><th>Hooks</th><th>Import</th></tr></thead>
      <tbody>{data.plugins.map((p) => <tr>
        <td><strong>{p.name}</strong><div class="muted">{p.dist || p.source}</div></td>
        <td>{p.version || "–"}</td>
        <td><span class={`badge ${p.status === "loaded" ? "state-ready" : p.status === "failed" ? "state-lost" : "state-off"}`}>{p.status}</span>
          {p.error && <div class="error">{p.error}</div>}</td>
        <td class="muted">{p.hooks.join(", ")}</td>
        <td>{p.import_ms} ms</td>
      </tr>)}</tbody>
    </table></div>
    {data.spec_errors.length > 0 && <><h3>Refused UI contributions</h3>
      <ul>{data.spec_errors.map((e) => <li class="error">{e.plugin}: {e.kind} {e.name}: {e.error}</li>)}</ul></>}
  </section>;
}
