// The live connection: one Socket.IO socket, joined to the shown experiment's room. Batches of
// events are fanned out to subscribers; after a reconnect every subscriber is told to backfill.
// The Socket.IO client is a chunk of its own, fetched while the page starts.
import { getState, rememberUnits, setState, toast } from "./store.js";

let socket = null;
let opening = null; // the client chunk on its way
let joined = null;
const handlers = { pt: new Set(), dose: new Set(), log: new Set(), set: new Set(), reconnect: new Set() };

export function on(kind, fn) {
  handlers[kind].add(fn);
  return () => handlers[kind].delete(fn);
}

function applySettings(events) {
  let jobs = null;
  for (const [, unit, job, setting, value] of events) {
    jobs = jobs || { ...getState().jobs };
    const u = (jobs[unit] = { ...(jobs[unit] || {}) });
    const j = (u[job] = { ...(u[job] || {}) });
    if (value === "") delete j[setting]; else j[setting] = value;
  }
  if (jobs) {
    setState({ jobs });
    rememberUnits(Object.keys(jobs));
  }
}

function onBatch(batch) {
  const by = { pt: [], dose: [], log: [], set: [] };
  for (const ev of batch.ev) {
    if (ev[0] === "experiment") {
      setState((s) => ({ session: { ...s.session, experiment: ev[1] } }));
      continue;
    }
    if (by[ev[0]]) by[ev[0]].push(ev);
  }
  if (by.set.length) applySettings(by.set);
  for (const kind of ["pt", "dose", "log"]) {
    if (by[kind].length) for (const fn of handlers[kind]) fn(by[kind], batch.now);
  }
}

export function join(experiment) {
  if (!socket || !socket.connected) { joined = experiment; return; }
  socket.emit("join", { experiment, leave: joined }, (reply) => {
    if (!reply || reply.error) { toast(reply ? reply.error : "could not join the live feed", "error"); return; }
    joined = experiment;
    setState({ jobs: reply.jobs || {} });
    rememberUnits([...(reply.units || []), ...Object.keys(reply.jobs || {})]);
  });
}

export function connect() {
  if (socket || opening) return;
  const attempt = (opening = import("socket.io-client").then(({ io }) => {
    if (opening !== attempt) return; // disconnected meanwhile
    opening = null;
    open(io);
  }, (e) => { opening = null; toast(`the live connection could not start: ${e.message}`, "error"); }));
}

function open(io) {
  socket = io({ transports: ["websocket"], reconnectionDelayMax: 5000 });
  let wasConnected = false;
  socket.on("connect", () => {
    setState({ connected: true });
    const experiment = joined || getState().experiment;
    joined = null;
    if (experiment) join(experiment);
    if (wasConnected) for (const fn of handlers.reconnect) fn();
    wasConnected = true;
  });
  socket.on("disconnect", () => setState({ connected: false }));
  socket.on("batch", onBatch);
  socket.on("job_failed", (info) => toast(`${info.job} on ${info.unit} stopped (exit ${info.code}): ${info.message}`, "error"));
}

export function disconnect() {
  if (socket) socket.disconnect();
  socket = opening = null;
  joined = null;
}

export function showExperiment(name) {
  setState({ experiment: name, jobs: {} });
  join(name);
}

// For tests and the curious: drop the live connection and bring it back (the gap is backfilled).
globalThis.__pio = {
  live: {
    drop() { if (socket) socket.disconnect(); },
    restore() { if (socket) socket.connect(); },
  },
};
