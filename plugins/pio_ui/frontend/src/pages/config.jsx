// The config editor: validated by the server before it is saved; every saved version is kept.
import { useEffect, useState } from "preact/hooks";
import { enc, get, post } from "../api.js";
import { act, Empty, ErrorBox } from "../components.jsx";

const FILES = ["config.ini", "unit_config.ini"];

export function Config() {
  const [data, setData] = useState(null);
  const [file, setFile] = useState(FILES[0]);
  const [text, setText] = useState("");
  const [error, setError] = useState(null);
  const [status, setStatus] = useState(null);
  const [old, setOld] = useState(null);
  const load = () => get("/api/config").then((d) => { setData(d); setText(d.files[file]); }).catch((e) => setError(e.message));
  useEffect(() => { load(); }, [file]);
  const save = async (dry) => {
    setError(null); setStatus(null);
    try {
      await (dry ? post(`/api/config/${enc(file)}`, { text, dry_run: true }) : act(post(`/api/config/${enc(file)}`, { text }), `${file} saved`));
      setStatus(dry ? "Valid: it can be saved." : "Saved. Restart the jobs that read it.");
      if (!dry) load();
    } catch (e) { setError(e.message); }
  };
  if (!data && error) return <Empty title="The config cannot be read">{error}</Empty>;
  if (!data) return <p aria-busy="true">Loading…</p>;
  const versions = data.history.filter((v) => v.endsWith(file));
  return <section aria-labelledby="config-title" class="two-col">
    <div>
      <h2 id="config-title">Configuration</h2>
      <div role="group" class="windows">{FILES.map((f) => <button class={f === file ? "" : "secondary outline"} aria-pressed={f === file} onClick={() => setFile(f)}>{f}</button>)}</div>
      <label for="config-text" class="visually-hidden">{file}</label>
      <textarea id="config-text" class="code" rows={22} spellcheck={false} value={text} onInput={(e) => { setText(e.target.value); setStatus(null); }} />
      <ErrorBox error={error} />
      {status && <p class="ok" role="status">{status}</p>}
      <div class="row"><button class="secondary" onClick={() => save(true)}>Validate</button><button onClick={() => save(false)}>Save</button></div>
      <small class="muted">Secrets are shown as ******** and kept unless you type a new value.</small>
    </div>
    <aside>
      <h3>History</h3>
      {!versions.length ? <p class="muted">No earlier versions of {file}.</p>
        : <ul class="history">{versions.map((v) => <li><button class="link" onClick={() => get(`/api/config/history/${enc(file)}/${enc(v)}`).then((r) => setOld({ v, text: r.text }))}>{v.split("_")[0].replace(/T(\d\d)-(\d\d)-/, "T$1:$2:")}</button></li>)}</ul>}
      {old && <><h4>{old.v}</h4><pre class="code">{old.text}</pre><button class="small secondary" onClick={() => setText(old.text)}>Load into editor</button></>}
    </aside>
  </section>;
}
