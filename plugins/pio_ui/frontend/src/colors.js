// Per-unit colours: a unit keeps its colour on every page (its place among the cluster's units,
// sorted), from a palette chosen to stay distinct on light and dark backgrounds.
import { getState } from "./store.js";

const PALETTE = [
  "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#e377c2", "#8c564b",
  "#bcbd22", "#3a5fcd", "#e6550d", "#31a354", "#7b4173", "#0f8b8d", "#d6616b", "#637939",
  "#843c39", "#5254a3", "#b5cf6b", "#969696",
];

export function unitColor(unit) {
  const units = getState().units;
  let i = units.indexOf(unit);
  if (i < 0) { // not yet listed: a stable hash until it is
    i = 0;
    for (const c of unit) i = (i * 31 + c.charCodeAt(0)) >>> 0;
  }
  return PALETTE[i % PALETTE.length];
}

// "worker1:2" -> {unit: "worker1", channel: "2"}
export function splitKey(key) {
  const at = key.lastIndexOf(":");
  return at < 0 ? { unit: key, channel: null } : { unit: key.slice(0, at), channel: key.slice(at + 1) };
}
