// A tiny shared store: pages read slices with useStore and re-render when they change.
import { useEffect, useState } from "preact/hooks";

const state = {
  session: null, // {authenticated, csrf, unit, experiment, history}
  experiment: null, // the experiment the pages show
  units: [], // every unit the cluster knows (sorted): their order fixes their colours
  jobs: {}, // unit -> job -> setting -> raw payload (string)
  catalog: null,
  connected: false,
  toasts: [],
};
const listeners = new Set();

export const getState = () => state;
export function setState(patch) {
  Object.assign(state, typeof patch === "function" ? patch(state) : patch);
  for (const fn of listeners) fn();
}
export function useStore(select) {
  const [value, set] = useState(() => select(state));
  useEffect(() => {
    const check = () => set(() => select(state));
    listeners.add(check);
    check();
    return () => listeners.delete(check);
  }, []);
  return value;
}

let toastId = 0;
export function toast(message, kind = "info") {
  const id = ++toastId;
  setState((s) => ({ toasts: [...s.toasts, { id, message, kind }].slice(-4) }));
  setTimeout(() => setState((s) => ({ toasts: s.toasts.filter((t) => t.id !== id) })), kind === "error" ? 8000 : 4000);
}

export function rememberUnits(names) {
  const all = [...new Set([...state.units, ...names])].sort();
  if (all.length !== state.units.length) setState({ units: all });
}
