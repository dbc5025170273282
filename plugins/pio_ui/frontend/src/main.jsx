// The app shell: login, navigation, experiment switcher, theme, live connection, toasts.
import "@picocss/pico/css/pico.min.css";
import "uplot/dist/uPlot.min.css";
import "./style.css";
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { get, post, setCsrf } from "./api.js";
import { chartsDrawn } from "./chart.js";
import { ErrorBox } from "./components.jsx";
import { connect, disconnect, join, showExperiment } from "./live.js";
import { getState, rememberUnits, setState, toast, useStore } from "./store.js";
import { Overview } from "./pages/overview.jsx";

// The other pages are separate chunks, loaded when first shown (or once the browser is idle):
// the overview starts with less JavaScript to evaluate.
function lazyPage(load, name) {
  let Page = null, failed = null, loading = null;
  const fetchPage = () => (loading = loading || load().then((m) => { Page = m[name]; },
    (e) => { failed = e.message; loading = null; }));
  function LazyPage(props) {
    const [, setTick] = useState(0);
    const shown = Page;  // what this render had: the chunk may arrive before the effect runs
    useEffect(() => {
      if (shown) return undefined;
      let live = true;
      fetchPage().then(() => live && setTick((t) => t + 1));
      return () => { live = false; };
    }, []);
    if (Page) return <Page {...props} />;
    if (failed) return <ErrorBox error={`This page could not be loaded (${failed}): reload the page.`} />;
    return <p aria-busy="true">Loading…</p>;
  }
  LazyPage.prefetch = fetchPage;
  return LazyPage;
}
const Units = lazyPage(() => import("./pages/units.jsx"), "Units");
const Logs = lazyPage(() => import("./pages/logs.jsx"), "Logs");
const Experiments = lazyPage(() => import("./pages/experiments.jsx"), "Experiments");
const Export = lazyPage(() => import("./pages/export.jsx"), "Export");
const Calibrations = lazyPage(() => import("./pages/calibrations.jsx"), "Calibrations");
const Plugins = lazyPage(() => import("./pages/plugins.jsx"), "Plugins");
const Cluster = lazyPage(() => import("./pages/cluster.jsx"), "Cluster");
const Config = lazyPage(() => import("./pages/config.jsx"), "Config");
const PluginPage = lazyPage(() => import("./pages/pluginpage.jsx"), "PluginPage");

const PAGES = [
  ["overview", "Overview", Overview], ["units", "Units", Units], ["logs", "Logs", Logs],
  ["experiments", "Experiments", Experiments], ["export", "Export", Export],
  ["calibrations", "Calibrations", Calibrations], ["cluster", "Cluster", Cluster],
  ["plugins", "Plugins", Plugins], ["config", "Config", Config],
];

function route() {
  const [page, ...rest] = (location.hash.replace(/^#\/?/, "") || "overview").split("/");
  return { page, arg: rest.join("/") };
}

function applyTheme(theme) {
  document.documentElement.dataset.theme = theme;
  window.dispatchEvent(new Event("pio:theme"));
}

function Login({ onDone }) {
  const [password, setPassword] = useState("");
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true); setError(null);
    try {
      const r = await post("/api/login", { password });
      setCsrf(r.csrf);
      onDone();
    } catch (err) {
      setError(err.message);
      setPassword("");
    } finally { setBusy(false); }
  };
  return <main class="container login">
    <article>
      <header><h1 class="brand-big">Pioreactor</h1><p>Sign in to the lab's bioreactors.</p></header>
      <form onSubmit={submit}>
        <label for="password">Password
          <input id="password" name="password" type="password" autocomplete="current-password" autoFocus required
            value={password} onInput={(e) => setPassword(e.target.value)} aria-invalid={error ? "true" : undefined} />
        </label>
        <ErrorBox error={error} />
        <button type="submit" aria-busy={busy} disabled={busy}>Sign in</button>
      </form>
      <footer><small>The password was printed when the UI first started (<code>pio ui password</code> sets a new one).</small></footer>
    </article>
  </main>;
}

function ExperimentPicker() {
  const experiment = useStore((s) => s.experiment);
  const current = useStore((s) => s.session && s.session.experiment);
  const [list, setList] = useState([]);
  useEffect(() => {
    get("/api/experiments").then((r) => setList(r.experiments.map((e) => e.name))).catch(() => setList([]));
  }, [current]);
  const names = [...new Set([experiment, current, ...list].filter(Boolean))];
  return <label class="exp-picker" title="The experiment these pages show">
    <span class="visually-hidden">Experiment</span>
    <select aria-label="Experiment shown" value={experiment} onInput={(e) => showExperiment(e.target.value)}>
      {names.map((n) => <option value={n}>{n}{n === current ? " (current)" : ""}</option>)}
    </select>
  </label>;
}

function Toasts() {
  const toasts = useStore((s) => s.toasts);
  return <div class="toasts" role="status" aria-live="polite">
    {toasts.map((t) => <div class={`toast ${t.kind}`} key={t.id}>{t.message}</div>)}
  </div>;
}

function Shell() {
  const [r, setRoute] = useState(route());
  const connected = useStore((s) => s.connected);
  const experiment = useStore((s) => s.experiment);
  const catalog = useStore((s) => s.catalog);
  const [theme, setTheme] = useState(document.documentElement.dataset.theme);
  useEffect(() => {
    const f = () => setRoute(route());
    addEventListener("hashchange", f);
    return () => removeEventListener("hashchange", f);
  }, []);
  const pluginPages = (catalog && catalog.pages) || [];
  const found = PAGES.find((p) => p[0] === r.page);
  const Page = found ? found[2] : r.page === "page" ? PluginPage : null;
  const toggleTheme = () => {
    const next = theme === "dark" ? "light" : "dark";
    localStorage.setItem("pio.theme", next);
    applyTheme(next);
    setTheme(next);
  };
  const logout = async () => { try { await post("/api/logout", {}); } finally { disconnect(); location.reload(); } };
  return <>
    <a class="skip" href="#main">Skip to content</a>
    <header class="topbar">
      <nav class="container-fluid">
        <ul><li><a href="#/overview" class="brand">Pioreactor</a></li>
          <li><ExperimentPicker /></li>
          <li><span class={`live ${connected ? "on" : "off"}`} role="status">{connected ? "live" : "offline"}</span></li></ul>
        <ul>
          <li><button class="secondary outline icon" onClick={toggleTheme} aria-label="Switch light or dark theme">{theme === "dark" ? "☀" : "☾"}</button></li>
          <li><button class="secondary outline icon" onClick={logout}>Sign out</button></li>
        </ul>
      </nav>
      <nav class="tabs container-fluid" aria-label="Pages">
        <ul>
          {PAGES.map(([id, label]) => <li><a href={`#/${id}`} aria-current={r.page === id ? "page" : undefined}>{label}</a></li>)}
          {pluginPages.map((p) => <li><a href={`#/page/${p.name}`} aria-current={r.page === "page" && r.arg === p.name ? "page" : undefined}>{p.title}</a></li>)}
        </ul>
      </nav>
    </header>
    <main id="main" class="container-fluid" tabIndex={-1}>
      {!experiment ? <p aria-busy="true">Loading…</p>
        : Page ? <Page key={`${r.page}/${r.arg}/${experiment}`} arg={r.arg} />
          : <p>No page “{r.page}”. <a href="#/overview">Go to the overview</a>.</p>}
    </main>
    <Toasts />
  </>;
}

// The server writes the session into the page (a JSON data block, never executed): the first
// render needs no round trip, so the overview's charts ask for their history straight away.
function bootSession() {
  const el = document.getElementById("boot");
  if (!el) return null;
  el.remove(); // once: a later start (after logging in) asks the server
  try {
    const s = JSON.parse(el.textContent);
    return s && typeof s.authenticated === "boolean" ? s : null;
  } catch { return null; }
}

function startSession(s) {
  if (s.authenticated) {
    setCsrf(s.csrf);
    if (s.units) rememberUnits(s.units);
    setState({ session: s, experiment: getState().experiment || s.experiment });
    connect();
    join(getState().experiment);
    // not needed for the first paint: asked once the browser is idle (the charts' history goes first)
    afterFirstLoad(() => {
      get("/api/catalog").then((c) => setState({ catalog: c })).catch((e) => toast(e.message, "error"));
      get("/api/units", { experiment: getState().experiment }).then((u) => rememberUnits(u.units)).catch(() => {});
      idle(() => { for (const [, , Page] of PAGES) if (Page.prefetch) Page.prefetch(); PluginPage.prefetch(); });
    });
  } else setState({ session: s });
}

// What the first page does not need waits until its charts are drawn (at most 3 s), then for an idle moment.
const idle = (fn) => (window.requestIdleCallback ? requestIdleCallback(fn, { timeout: 1000 }) : setTimeout(fn, 100));
const afterFirstLoad = (fn) => {
  const charts = route().page === "overview" ? chartsDrawn() : Promise.resolve();
  Promise.race([charts, new Promise((resolve) => setTimeout(resolve, 3000))]).then(() => idle(fn));
};

const booted = bootSession();
if (booted) startSession(booted);

function App() {
  const session = useStore((s) => s.session);
  const [error, setError] = useState(null);
  const start = async () => {
    try {
      startSession(await get("/api/session"));
      setError(null);
    } catch (e) { setError(e.message); }
  };
  useEffect(() => {
    if (!booted) start();
    const out = () => { disconnect(); setState({ session: { authenticated: false } }); };
    addEventListener("pio:logged-out", out);
    return () => removeEventListener("pio:logged-out", out);
  }, []);
  if (error) return <main class="container"><ErrorBox error={error} /><button onClick={start}>Retry</button></main>;
  if (!session) return <p class="boot" aria-busy="true">Loading…</p>;
  if (!session.authenticated) return <Login onDone={start} />;
  return <Shell />;
}

applyTheme(localStorage.getItem("pio.theme") || (matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light"));
setTimeout(() => { // a task of its own, not one long one with the module's evaluation
  const root = document.getElementById("app");
  root.replaceChildren(); // the page's static "Loading…"
  render(<App />, root);
});
