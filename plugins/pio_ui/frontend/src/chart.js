// A live time-series chart on uPlot, on the server's bucket grid.
//
// History arrives as min and max per bucket (the server keeps spikes); live points are merged
// into the same grid, so a chart holds at most a few buckets per pixel whatever the rate or the
// time it stays open: memory is bounded. Sliding windows drop buckets off the front; the "whole
// experiment" window re-asks the server for wider buckets once it has grown to twice its width.
// After a reconnect, the window is fetched again (the gap is filled from the database).
import uPlot from "uplot";
import { ApiError, get } from "./api.js";
import { splitKey, unitColor } from "./colors.js";

const charts = new Set();
let ticker = null;
const sizes = new ResizeObserver((entries) => {
  for (const e of entries) if (e.target.__chart) e.target.__chart.resized(e.contentRect);
});

// Building and drawing a chart is the heavy part: one chart per task (uPlot draws in a microtask
// at the end of it), so the page answers input between them.
const queue = new Set();
let settled = null; // resolves once the charts shown first have all drawn their history
const firstDrawn = new Promise((resolve) => { settled = resolve; });
export const chartsDrawn = () => firstDrawn;

function schedule(chart) {
  if (!queue.size) setTimeout(runQueue, 0);
  queue.add(chart);
}
function runQueue() {
  const next = queue.values().next().value;
  queue.delete(next);
  try {
    if (charts.has(next)) next.step();
  } finally {
    if (queue.size) setTimeout(runQueue, 0);
    else if ([...charts].every((c) => c.u && !c.loading)) settled();
  }
}

// Charts that load together (a page's charts, or every chart after a reconnect) share one
// request: GET /api/history?series=a,b,c over the widest of their windows (asked in the same task).
const batches = new Map();
function history(name, { experiment, start, end, width }) {
  const key = `${experiment}|${width}|${Math.round((end - start) / 60)}`;
  let batch = batches.get(key);
  if (!batch) {
    batch = { experiment, start, end, width, waiting: new Map() };
    batches.set(key, batch);
    setTimeout(() => sendBatch(key, batch), 0);
  }
  batch.start = Math.min(batch.start, start);
  batch.end = Math.max(batch.end, end);
  return new Promise((resolve, reject) => {
    const list = batch.waiting.get(name) || [];
    list.push([resolve, reject]);
    batch.waiting.set(name, list);
  });
}

async function sendBatch(key, batch) {
  batches.delete(key);
  const names = [...batch.waiting.keys()];
  let answer = null, failure = null;
  try {
    answer = await get("/api/history", { series: names.join(","), experiment: batch.experiment,
      start: batch.start.toFixed(3), end: batch.end.toFixed(3), width: batch.width });
  } catch (e) { failure = e; }
  for (const [name, list] of batch.waiting) {
    const r = answer && answer.charts[name];
    for (const [resolve, reject] of list) {
      if (failure) reject(failure);
      else if (!r || r.error) reject(new ApiError((r && r.error) || `no answer for chart ${name}`, (r && r.status) || 500));
      else resolve({ ...r, history: answer.history });
    }
  }
}

// A packed line (see docs/ui.md): the sequence min, max of each bucket in turn without its empty
// stretches ([index, length] in gaps), each value the integer step from the previous one in units of 10^-e.
function unpack({ e, d, gaps }, n) {
  const seq = new Array(2 * n).fill(null);
  const value = e >= 0 ? ((k) => k / 10 ** e) : ((k) => k * 10 ** -e); // exact for whole powers of ten
  let acc = 0, j = 0, g = 0;
  for (let i = 0; i < 2 * n && j < d.length; i++) {
    if (g < gaps.length && i === gaps[g][0]) { i += gaps[g][1] - 1; g++; continue; }
    acc += d[j++];
    seq[i] = value(acc);
  }
  const min = new Array(n), max = new Array(n);
  for (let i = 0; i < n; i++) { min[i] = seq[2 * i]; max[i] = seq[2 * i + 1]; }
  return { min, max };
}

// Theme colours, read once per theme (reading computed styles forces a style pass).
let themeColors = null;
function colors() {
  if (!themeColors) {
    themeColors = { axis: cssVar("--pico-muted-color", "#888"), grid: cssVar("--pico-muted-border-color", "rgba(128,128,128,.2)") };
  }
  return themeColors;
}
addEventListener("pio:theme", () => {
  themeColors = null;
  for (const c of charts) if (c.u) { c.retheme = true; schedule(c); }
});

function tick() {
  if (document.hidden) return;
  for (const c of charts) if (c.dirty) c.render();
}

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

const fmt = (v) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(4));

export class TimeChart {
  constructor(el, spec, opts) {
    this.el = el; // a container the chart owns
    this.spec = spec; // {name, title, unit, step}
    this.opts = opts; // {experiment, span (s) | null, start (epoch s, for span null), onLines}
    this.lines = new Map();
    this.keys = [];
    this.hidden = new Set();
    this.markers = [];
    this.u = null;
    this.dirty = false;
    this.loading = null;
    this.error = null;
    this.readout = null;
    charts.add(this);
    el.__chart = this; // lets tests (and devtools) read what the chart holds
    if (!ticker) ticker = setInterval(tick, 1000);
    // The box's size comes from a ResizeObserver, called once the browser has laid the page out:
    // reading it from the DOM before would force that layout in the middle of our own task.
    this.size = null;
    this.measured = new Promise((resolve) => { this.onMeasured = resolve; });
    sizes.observe(el);
    setTimeout(() => this.resized(null), 500); // a box never laid out (a hidden tab) still loads
    this.needsBuild = false;
  }

  resized(box) {
    if (!box && this.size) return;
    const width = box ? box.width : this.el.clientWidth, height = box ? box.height : this.el.clientHeight;
    this.size = { width: Math.max(200, Math.round(width || 600)), height: Math.round(height) || 220 };
    this.onMeasured();
    if (this.u) this.fit();
  }

  destroy() {
    charts.delete(this);
    queue.delete(this);
    sizes.unobserve(this.el);
    if (this.u) this.u.destroy();
    this.u = null;
    if (!charts.size) { clearInterval(ticker); ticker = null; }
  }

  widthPx() { return this.size ? this.size.width : Math.max(200, Math.round(this.el.clientWidth || 600)); }
  heightPx() { return this.size ? this.size.height : this.el.clientHeight || 220; }

  window() {
    const now = Date.now() / 1000;
    const start = this.opts.span ? now - this.opts.span : Math.min(this.opts.start || now - 3600, now - 60);
    return { start, end: now + 1 };
  }

  async load() {
    const { start, end } = this.window();
    const token = (this.loading = {});
    try {
      if (!this.size) await this.measured;
      const answer = history(this.spec.name, { experiment: this.opts.experiment, start, end, width: this.widthPx() });
      const r = await answer;
      if (token !== this.loading) return;
      this.error = null;
      this.w = r.bucket_s; this.t0 = r.t0; this.n = r.n;
      const keep = new Map();
      for (const [key, d] of Object.entries(r.data)) keep.set(key, d.d ? unpack(d, r.n) : { min: d.min, max: d.max });
      this.lines = keep;
      this.history = r.history;
    } catch (e) {
      if (token !== this.loading) return;
      this.error = e.message;
      if (this.w === undefined) { this.w = 5; this.t0 = Math.floor(start / 5) * 5; this.n = Math.ceil((end - this.t0) / 5); }
    } finally {
      if (token === this.loading) this.loading = null;
    }
    const pending = this.pending || [];
    this.pending = [];
    this.add(pending); // live points that arrived while we waited (newer than the database)
    this.needsBuild = true;
    schedule(this);
  }

  // ---------------------------------------------------------------- live points
  add(events) {
    if (this.loading || this.w === undefined) { // replayed once the history has arrived
      this.pending = (this.pending || []).concat(events.filter((ev) => ev[1] === this.spec.name)).slice(-50000);
      return;
    }
    for (const ev of events) {
      if (ev[1] !== this.spec.name) continue;
      const key = ev[2], t = ev[3], v = ev[4];
      let i = Math.floor((t - this.t0) / this.w);
      if (i < 0) continue;
      if (i >= this.n) { this.extend(i + 1); i = Math.floor((t - this.t0) / this.w); if (i < 0) continue; }
      let line = this.lines.get(key);
      if (!line) {
        line = { min: new Array(this.n).fill(null), max: new Array(this.n).fill(null) };
        this.lines.set(key, line);
        this.newLine = true;
      }
      line.min[i] = line.min[i] === null || line.min[i] === undefined ? v : Math.min(line.min[i], v);
      line.max[i] = line.max[i] === null || line.max[i] === undefined ? v : Math.max(line.max[i], v);
      this.dirty = true;
    }
  }

  extend(n) {
    const grow = n - this.n;
    for (const line of this.lines.values()) {
      for (let k = 0; k < grow; k++) { line.min.push(null); line.max.push(null); }
    }
    this.n = n;
    const limit = this.opts.span ? Math.ceil(this.opts.span / this.w) + 1 : 2 * this.widthPx();
    if (this.n > limit) {
      if (!this.opts.span) { if (!this.loading) this.load(); return; }
      const drop = this.n - limit;
      for (const line of this.lines.values()) { line.min.splice(0, drop); line.max.splice(0, drop); }
      this.t0 += drop * this.w;
      this.n = limit;
    }
  }

  setMarkers(markers) {
    if (!markers.length && !this.markers.length) return; // nothing to draw, nothing to redraw
    this.markers = markers.slice(-2000);
    this.dirty = true;
  }
  addMarkers(markers) { this.setMarkers(this.markers.concat(markers)); }

  toggle(key) {
    if (this.hidden.has(key)) this.hidden.delete(key); else this.hidden.add(key);
    if (this.u) {
      const idx = this.keys.indexOf(key);
      if (idx >= 0) this.u.setSeries(idx + 1, { show: !this.hidden.has(key) });
    }
  }

  // ---------------------------------------------------------------- drawing
  data() {
    const xs = new Array(2 * this.n);
    for (let i = 0; i < this.n; i++) {
      xs[2 * i] = this.t0 + (i + 0.25) * this.w;
      xs[2 * i + 1] = this.t0 + (i + 0.75) * this.w;
    }
    const out = [xs];
    for (const key of this.keys) {
      const line = this.lines.get(key);
      const ys = new Array(2 * this.n);
      for (let i = 0; i < this.n; i++) {
        const lo = line.min[i], hi = line.max[i];
        ys[2 * i] = lo === undefined ? null : lo;
        ys[2 * i + 1] = hi === undefined ? null : hi;
      }
      out.push(ys);
    }
    return out;
  }

  step() {
    if (this.needsBuild) this.build();
    else if (this.retheme && this.u) this.create(this.seriesOpts(), this.u.data);
    this.retheme = false;
  }

  seriesOpts() {
    const step = this.spec.step ? uPlot.paths.stepped({ align: 1 }) : undefined;
    const channels = {};
    return this.keys.map((key) => {
      const { unit } = splitKey(key);
      channels[unit] = (channels[unit] || 0) + 1;
      return { label: key, stroke: unitColor(unit), width: 1, spanGaps: true, show: !this.hidden.has(key),
        dash: channels[unit] > 1 ? [5, 4] : undefined, points: { size: 5 }, paths: step }; // points only where sparse (uPlot decides)
    });
  }

  build() {
    const t0 = performance.now();
    const keys = [...this.lines.keys()].sort();
    this.keys = keys;
    this.newLine = this.needsBuild = false;
    if (this.opts.onLines) this.opts.onLines(this.keys, this);
    this.create(this.seriesOpts(), this.data());
    this.dirty = false;
    performance.measure(`chart ${this.spec.name}`, { start: t0, end: performance.now() });
  }

  create(series, data) {
    if (this.u) { this.u.destroy(); this.u = null; }
    this.el.replaceChildren();
    const { axis, grid } = colors();
    const self = this;
    const font = "12px system-ui, sans-serif"; // one font for ticks and label: the canvas parses it once
    const opts = {
      width: this.widthPx(), height: this.heightPx(),
      legend: { show: false },
      cursor: { points: { show: false }, drag: { x: false, y: false } },
      scales: { x: { time: true } },
      axes: [
        { stroke: axis, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid } },
        { stroke: axis, font, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, size: 56,
          label: this.spec.unit, labelSize: 18, labelFont: font },
      ],
      series: [{}, ...series],
      hooks: {
        draw: [(u) => { // drawnAt: when the lines were first drawn (the benchmark reads it)
          self.drawMarkers(u);
          if (self.keys.length && !self.drawnAt) self.drawnAt = performance.now();
        }],
        setCursor: [(u) => self.showReadout(u)],
      },
    };
    this.u = new uPlot(opts, data, this.el);
  }

  render() {
    if (!this.u || this.newLine) { this.build(); return; }
    this.u.setData(this.data());
    this.dirty = false;
  }

  fit() {
    if (this.u) this.u.setSize({ width: this.widthPx(), height: this.heightPx() });
  }

  drawMarkers(u) {
    if (!this.markers.length) return;
    const ctx = u.ctx;
    const [x0, x1] = [u.scales.x.min, u.scales.x.max];
    ctx.save();
    for (const [unit, t, event] of this.markers) {
      if (t < x0 || t > x1) continue;
      const x = Math.round(u.valToPos(t, "x", true));
      ctx.fillStyle = unitColor(unit);
      const y = u.bbox.top;
      ctx.beginPath();
      if (event === "remove_waste") { ctx.moveTo(x - 4, y + 8); ctx.lineTo(x + 4, y + 8); ctx.lineTo(x, y); }
      else { ctx.moveTo(x - 4, y); ctx.lineTo(x + 4, y); ctx.lineTo(x, y + 8); }
      ctx.fill();
    }
    ctx.restore();
  }

  showReadout(u) {
    if (!this.readout) return;
    const i = u.cursor.idx;
    if (i === null || i === undefined) { this.readout.textContent = "\u00a0"; return; }
    const t = new Date(u.data[0][i] * 1000);
    const parts = [];
    for (let s = 1; s < u.data.length && parts.length < 8; s++) {
      const v = u.data[s][i];
      if (v !== null && v !== undefined && !this.hidden.has(this.keys[s - 1])) parts.push(`${this.keys[s - 1]} ${fmt(v)}`);
    }
    this.readout.textContent = `${t.toLocaleString()} · ${parts.join(" · ") || "no data"}`;
  }

  // ---------------------------------------------------------------- downloads
  csv() {
    const rows = [["time_utc", ...this.keys.flatMap((k) => [`${k}_min`, `${k}_max`])].join(",")];
    for (let i = 0; i < this.n; i++) {
      const cells = this.keys.flatMap((k) => [this.lines.get(k).min[i], this.lines.get(k).max[i]]);
      if (cells.every((c) => c === null || c === undefined)) continue;
      rows.push([new Date((this.t0 + i * this.w) * 1000).toISOString(), ...cells.map((c) => (c ?? ""))].join(","));
    }
    return new Blob([rows.join("\n") + "\n"], { type: "text/csv" });
  }

  png() {
    if (!this.u) return null;
    const src = this.u.ctx.canvas;
    const dpr = src.width / this.u.width;
    const head = 34 * dpr, foot = 24 * dpr;
    const c = document.createElement("canvas");
    c.width = src.width; c.height = src.height + head + foot;
    const ctx = c.getContext("2d");
    ctx.fillStyle = cssVar("--pico-background-color", "#fff");
    ctx.fillRect(0, 0, c.width, c.height);
    ctx.fillStyle = cssVar("--pico-color", "#222");
    ctx.font = `600 ${15 * dpr}px system-ui, sans-serif`;
    ctx.fillText(`${this.spec.title} (${this.spec.unit}) — ${this.opts.experiment}`, 8 * dpr, 22 * dpr);
    ctx.drawImage(src, 0, head);
    let x = 8 * dpr;
    ctx.font = `${11 * dpr}px system-ui, sans-serif`;
    for (const key of this.keys) {
      ctx.fillStyle = unitColor(splitKey(key).unit);
      ctx.fillRect(x, c.height - 15 * dpr, 10 * dpr, 10 * dpr);
      ctx.fillStyle = cssVar("--pico-color", "#222");
      ctx.fillText(key, x + 14 * dpr, c.height - 6 * dpr);
      x += (ctx.measureText(key).width + 30 * dpr);
    }
    return new Promise((resolve) => c.toBlob(resolve, "image/png"));
  }
}

export function download(blob, name) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
}
