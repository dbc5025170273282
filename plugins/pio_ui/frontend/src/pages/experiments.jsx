// Experiments: create, switch the current one (every unit follows), notes.
import { useEffect, useState } from "preact/hooks";
import { enc, get, post } from "../api.js";
import { act, Empty, ErrorBox } from "../components.jsx";
import { showExperiment } from "../live.js";
import { useStore } from "../store.js";

export function Experiments() {
  const shown = useStore((s) => s.experiment);
  const [data, setData] = useState(null);
  const [error, setError] = useState(null);
  const [form, setForm] = useState({ name: "", description: "", switch: true });
  const [formError, setFormError] = useState(null);
  const load = () => get("/api/experiments").then((r) => { setData(r); setError(null); }).catch((e) => setError(e.message));
  useEffect(() => { load(); }, []);
  const create = async (e) => {
    e.preventDefault();
    setFormError(null);
    try {
      await act(post("/api/experiments", form), `experiment ${form.name} created`);
      if (form.switch) showExperiment(form.name);
      setForm({ name: "", description: "", switch: true });
      load();
    } catch (err) { setFormError(err.message); }
  };
  const makeCurrent = async (name) => {
    await act(post("/api/experiments/current", { experiment: name }), `${name} is now the current experiment`).catch(() => {});
    showExperiment(name);
    load();
  };
  if (error) return <Empty title="Experiments are unavailable">{error}</Empty>;
  return <section aria-labelledby="exp-title" class="two-col">
    <div>
      <h2 id="exp-title">Experiments</h2>
      {!data ? <p aria-busy="true">Loading…</p> : !data.experiments.length ? <Empty title="No experiments yet">Create the first one.</Empty>
        : <table class="striped"><thead><tr><th>Name</th><th>Created</th><th>Units</th><th /></tr></thead>
          <tbody>{data.experiments.map((x) => <tr data-experiment={x.name}>
            <td><strong>{x.name}</strong>{x.name === data.current && <span class="badge state-ready">current</span>}
              {x.description && <div class="muted">{x.description}</div>}</td>
            <td>{new Date(x.created_at).toLocaleString()}</td>
            <td>{x.units.join(", ") || "–"}</td>
            <td class="right">{x.name !== data.current
              ? <button class="small" onClick={() => makeCurrent(x.name)}>Make current</button>
              : x.name !== shown ? <button class="small secondary" onClick={() => showExperiment(x.name)}>Show</button> : null}</td>
          </tr>)}</tbody></table>}
      <Notes experiment={shown} />
    </div>
    <aside>
      <article>
        <header><h3>New experiment</h3></header>
        <form onSubmit={create} noValidate>
          <label for="exp-name">Name<input id="exp-name" required value={form.name} onInput={(e) => setForm({ ...form, name: e.target.value })}
            placeholder="e.g. yeast-turbidostat-03" /></label>
          <label for="exp-desc">Description<textarea id="exp-desc" rows={3} value={form.description}
            onInput={(e) => setForm({ ...form, description: e.target.value })} /></label>
          <label><input type="checkbox" checked={form.switch} onInput={(e) => setForm({ ...form, switch: e.target.checked })} />
            Make it the current experiment</label>
          <ErrorBox error={formError} />
          <button type="submit">Create</button>
        </form>
      </article>
    </aside>
  </section>;
}

function Notes({ experiment }) {
  const [notes, setNotes] = useState([]);
  const [text, setText] = useState("");
  const [error, setError] = useState(null);
  const load = () => get(`/api/experiments/${enc(experiment)}/notes`).then((r) => setNotes(r.notes)).catch((e) => setError(e.message));
  useEffect(() => { load(); }, [experiment]);
  const add = async (e) => {
    e.preventDefault();
    try { await post(`/api/experiments/${enc(experiment)}/notes`, { note: text }); setText(""); setError(null); load(); } catch (err) { setError(err.message); }
  };
  return <section class="notes" aria-labelledby="notes-title">
    <h3 id="notes-title">Notes on {experiment}</h3>
    {notes.length === 0 ? <p class="muted">No notes yet.</p>
      : <ul>{notes.map((n) => <li><small class="muted">{new Date(n.timestamp).toLocaleString()}</small> {n.note}</li>)}</ul>}
    <form onSubmit={add} class="row">
      <input aria-label="New note" placeholder="Add a note (e.g. inoculated 1 mL)" value={text} onInput={(e) => setText(e.target.value)} />
      <button type="submit" disabled={!text.trim()}>Add</button>
    </form>
    <ErrorBox error={error} />
  </section>;
}
