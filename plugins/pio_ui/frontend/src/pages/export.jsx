// Export: pick datasets of the shown experiment, watch the progress, download the zip.
import { useEffect, useState } from "preact/hooks";
import { enc, get, post } from "../api.js";
import { Empty, ErrorBox } from "../components.jsx";
import { useStore } from "../store.js";

export function Export() {
  const experiment = useStore((s) => s.experiment);
  const [datasets, setDatasets] = useState(null);
  const [picked, setPicked] = useState(new Set(["od_readings", "growth_rates"]));
  const [job, setJob] = useState(null);
  const [format, setFormat] = useState("csv");
  const [error, setError] = useState(null);
  useEffect(() => { get("/api/export/datasets").then((r) => setDatasets(r.datasets)).catch((e) => setError(e.message)); }, []);
  useEffect(() => {
    if (!job || job.state !== "running") return;
    const t = setTimeout(() => get(`/api/export/${enc(job.id)}`).then(setJob).catch((e) => setError(e.message)), 300);
    return () => clearTimeout(t);
  }, [job]);
  const start = async (e) => {
    e.preventDefault();
    setError(null);
    try { setJob(await post("/api/export", { experiment, datasets: [...picked], format })); } catch (err) { setError(err.message); }
  };
  const toggle = (d) => { const s = new Set(picked); if (s.has(d)) s.delete(d); else s.add(d); setPicked(s); };
  if (error && !datasets) return <Empty title="Export is unavailable">{error}</Empty>;
  if (!datasets) return <p aria-busy="true">Loading datasets…</p>;
  if (!datasets.length) return <Empty title="Nothing to export yet">The leader's database has no datasets (is <code>mqtt_to_db</code> running?).</Empty>;
  const pct = job && job.total_rows ? Math.round((100 * job.done_rows) / job.total_rows) : 0;
  return <section aria-labelledby="export-title">
    <h2 id="export-title">Export <small>{experiment}</small></h2>
    <form onSubmit={start}>
      <fieldset class="dataset-grid"><legend>Datasets</legend>
        {datasets.map((d) => <label title={d.columns.join(", ")}><input type="checkbox" name={d.name} checked={picked.has(d.name)}
          onInput={() => toggle(d.name)} />{d.name.replace(/_/g, " ")}</label>)}
      </fieldset>
      <fieldset class="row" aria-label="Format"><legend>Format</legend>
        {["csv", "parquet"].map((f) => <label><input type="radio" name="format" value={f} checked={format === f} onInput={() => setFormat(f)} />{f === "csv" ? "CSV" : "Parquet"}</label>)}
      </fieldset>
      <button type="submit" disabled={!picked.size || (job && job.state === "running")}>Export {picked.size} dataset{picked.size === 1 ? "" : "s"}</button>
    </form>
    <ErrorBox error={error} />
    {job && <article class="export-job" aria-live="polite">
      {job.state === "running" && <><p>Exporting… {job.done_rows.toLocaleString()} rows</p><progress value={pct} max="100" /></>}
      {job.state === "failed" && <ErrorBox error={job.error} />}
      {job.state === "done" && <p>Done: {job.done_rows.toLocaleString()} rows. <a role="button" href={`/api/export/${enc(job.id)}/download`} download={job.file}>Download {job.file}</a></p>}
    </article>}
  </section>;
}
