// Forms built from declarations: start a job with its options, start or switch an automation,
// edit a running job's setting in place. The server validates again before anything is sent.
import { useEffect, useRef, useState } from "preact/hooks";
import { enc, post } from "../api.js";
import { act, ErrorBox, Field, jobPost, parseJSON, showValue } from "../components.jsx";
import { getState, toast, useStore } from "../store.js";

export function Dialog({ title, onClose, children }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    const prev = document.activeElement;
    const first = el.querySelector("input, select, button:not(.close)");
    if (first) first.focus();
    const key = (e) => { if (e.key === "Escape") onClose(); };
    el.addEventListener("keydown", key);
    return () => { el.removeEventListener("keydown", key); if (prev && prev.focus) prev.focus(); };
  }, []);
  return <dialog open ref={ref} aria-label={title} onClick={(e) => { if (e.target === ref.current) onClose(); }}>
    <article>
      <header><button class="close" aria-label="Close" rel="prev" onClick={onClose} /><h3>{title}</h3></header>
      {children}
    </article>
  </dialog>;
}

function clean(values) {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== "" && v !== undefined && v !== null));
}

export function StartDialog({ unit, job, entry, onClose }) {
  const [values, setValues] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try {
      await act(jobPost(unit, job, "start", { options: clean(values) }), `${job} starting on ${unit === "$all" ? "all units" : unit}`);
      onClose();
    } catch (err) { setError(err.message); } finally { setBusy(false); }
  };
  return <Dialog title={`Start ${job} on ${unit === "$all" ? "all units" : unit}`} onClose={onClose}>
    <form noValidate onSubmit={submit} data-form={`start-${job}`}>
      {entry.help && <p class="muted">{entry.help}</p>}
      {entry.options.length === 0 && <p class="muted">This job takes no options.</p>}
      {entry.options.map((d) => <Field decl={d} id={`opt-${job}-${d.name}`} value={values[d.name]}
        onInput={(v) => setValues({ ...values, [d.name]: v })} />)}
      <ErrorBox error={error} />
      <footer><button type="button" class="secondary" onClick={onClose}>Cancel</button>
        <button type="submit" aria-busy={busy} disabled={busy}>Start</button></footer>
    </form>
  </Dialog>;
}

export function AutomationDialog({ unit, job, entry, running, current, onClose }) {
  const catalog = useStore((s) => s.catalog);
  const choices = (catalog && catalog.automations[entry.automation_kind]) || {};
  const names = Object.keys(choices).sort();
  const [name, setName] = useState(current || names.find((n) => n !== "silent") || names[0] || "");
  const [values, setValues] = useState({});
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const automation = choices[name];
  const params = automation ? automation.parameters : [];
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null);
    const args = clean(values);
    try {
      if (running) await act(jobPost(unit, job, "automation", { automation_name: name, args }), `switching ${job} to ${name}`);
      else await act(jobPost(unit, job, "start", { options: { automation_name: name, ...args } }), `${name} starting on ${unit}`);
      onClose();
    } catch (err) { setError(err.message); } finally { setBusy(false); }
  };
  return <Dialog title={`${running ? "Switch" : "Start"} ${entry.automation_kind} automation on ${unit === "$all" ? "all units" : unit}`} onClose={onClose}>
    <form noValidate onSubmit={submit} data-form={`automation-${job}`}>
      <label for={`auto-${job}`}>Automation
        <select id={`auto-${job}`} value={name} onInput={(e) => { setName(e.target.value); setValues({}); }}>
          {names.map((n) => <option value={n}>{n}</option>)}
        </select>
      </label>
      {automation && automation.help && <p class="muted">{automation.help}</p>}
      {automation && automation.error && <ErrorBox error={automation.error} />}
      {params.map((d) => <Field decl={d} id={`param-${job}-${d.name}`} value={values[d.name]}
        onInput={(v) => setValues({ ...values, [d.name]: v })} />)}
      <ErrorBox error={error} />
      <footer><button type="button" class="secondary" onClick={onClose}>Cancel</button>
        <button type="submit" aria-busy={busy} disabled={busy || !name}>{running ? "Switch" : "Start"}</button></footer>
    </form>
  </Dialog>;
}

// A running job's setting: read-only value, or an in-place editor for a settable one.
export function SettingRow({ unit, job, decl, raw }) {
  const [editing, setEditing] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const id = `set-${unit}-${job}-${decl.name}`;
  if (!decl.settable) {
    return <div class="setting"><span class="name">{decl.name.replace(/_/g, " ")}</span>
      <span class="value" data-setting={decl.name}>{showValue(raw, decl)}{decl.unit && raw ? <small> {decl.unit}</small> : null}</span></div>;
  }
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try {
      const value = decl.datatype === "boolean" ? editing === true || editing === "true" : editing;
      await post(`/api/units/${enc(unit)}/jobs/${enc(job)}/settings/${enc(decl.name)}`,
        { experiment: getState().experiment, value });
      setEditing(null);
      toast(`${job} ${decl.name} → ${value}`);
    } catch (err) { setError(err.message); } finally { setBusy(false); }
  };
  const shown = editing !== null ? editing : decl.datatype === "json" ? raw : raw;
  return <form class="setting editable" noValidate onSubmit={submit} data-setting-form={decl.name}>
    <label for={id} class="name">{decl.name.replace(/_/g, " ")}{decl.unit && <small> [{decl.unit}]</small>}</label>
    <div class="value">
      {decl.datatype === "boolean"
        ? <input id={id} type="checkbox" role="switch" checked={shown === "1" || shown === "true" || shown === true}
          onInput={(e) => setEditing(e.target.checked)} />
        : decl.choices ? <select id={id} value={shown ?? ""} onInput={(e) => setEditing(e.target.value)}>
          {decl.choices.map((c) => <option value={c}>{c}</option>)}</select>
          : <input id={id} type={decl.datatype === "float" || decl.datatype === "integer" ? "number" : "text"} step="any"
            min={decl.minimum} max={decl.maximum} value={shown ?? ""} aria-invalid={error ? "true" : undefined}
            aria-describedby={error ? `${id}-err` : undefined}
            onInput={(e) => { setEditing(e.target.value); setError(null); }} />}
      <button type="submit" class={editing === null ? "secondary outline" : ""} disabled={busy || editing === null} aria-busy={busy}>Set</button>
    </div>
    {error && <small class="error" id={`${id}-err`} role="alert">{error}</small>}
  </form>;
}

export function declarations(jobState) {
  const decls = parseJSON(jobState && jobState["$settings"], []);
  return Array.isArray(decls) ? decls : [];
}
