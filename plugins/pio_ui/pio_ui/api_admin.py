"""The API behind the slower pages: experiments, export, calibrations, plugins, cluster, config."""

from __future__ import annotations

import configparser
import time
from dataclasses import asdict
from typing import Any

from flask import Blueprint, jsonify, send_file
from pioreactor_kernel import calibrations, registry
from pioreactor_kernel.services import has_service, service

from .api import body, ctx, fail, name_arg
from .commands import CommandError
from .config_edit import ConfigEditor
from .exporter import Exports
from .store import MISSING, StoreUnavailable, leader_service

admin = Blueprint("admin", __name__, url_prefix="/api")


@admin.errorhandler(CommandError)
def _command_error(e: CommandError) -> Any:
    return fail(str(e), e.status)


@admin.errorhandler(StoreUnavailable)
def _store_missing(e: StoreUnavailable) -> Any:
    return fail(str(e), 503)


def _experiments_module() -> Any:
    """pio-leader's ``leader.experiments`` service; 503 with the reason without it or its database."""
    c = ctx()
    experiments = leader_service("leader.experiments")
    if not c.store.available:
        raise StoreUnavailable(c.store.error or MISSING)
    return experiments


# ---------------------------------------------------------------------------- experiments
@admin.get("/experiments")
def experiments_list() -> Any:
    ex, c = _experiments_module(), ctx()
    with c.store.db.connection_context():
        items = [asdict(e) for e in ex.list_all()]
    return jsonify(experiments=items, current=c.current_experiment())


@admin.post("/experiments")
def experiments_create() -> Any:
    ex, c, data = _experiments_module(), ctx(), body()
    name = name_arg("experiment", data.get("name", "")).strip()
    description = str(data.get("description") or "")[:2000]
    try:
        with c.store.db.connection_context():
            info = ex.create(name, description)
            units = [name_arg("unit", u) for u in data.get("units") or []]
            if units:
                ex.assign(name, units)
    except ex.ExperimentError as e:
        return fail(str(e), 409)
    if data.get("switch"):
        c.publish("pioreactor/latest_experiment/experiment", name, retain=True)
    return jsonify(ok=True, experiment=asdict(info))


@admin.post("/experiments/current")
def experiments_switch() -> Any:
    ex, c, data = _experiments_module(), ctx(), body()
    name = name_arg("experiment", data.get("experiment", ""))
    try:
        with c.store.db.connection_context():
            ex.get(name)
    except ex.ExperimentError as e:
        return fail(str(e), 404)
    c.publish("pioreactor/latest_experiment/experiment", name, retain=True)
    return jsonify(ok=True, current=name)


@admin.get("/experiments/<experiment>/notes")
def notes_list(experiment: str) -> Any:
    ex, c = _experiments_module(), ctx()
    with c.store.db.connection_context():
        rows = ex.notes(name_arg("experiment", experiment))
    return jsonify(notes=[{"timestamp": n.timestamp, "note": n.note, "unit": n.pioreactor_unit} for n in rows])


@admin.post("/experiments/<experiment>/notes")
def notes_add(experiment: str) -> Any:
    ex, c, data = _experiments_module(), ctx(), body()
    note = str(data.get("note") or "").strip()
    if not note:
        return fail("the note is empty")
    try:
        with c.store.db.connection_context():
            stamp = ex.add_note(name_arg("experiment", experiment), note[:10_000])
    except ex.ExperimentError as e:
        return fail(str(e), 404)
    return jsonify(ok=True, timestamp=stamp)


# ---------------------------------------------------------------------------- export
def _exports() -> Exports:
    c = ctx()
    if not hasattr(c, "exports"):
        c.exports = Exports(c.store, c.data_dir / "exports")
    return c.exports


@admin.get("/export/datasets")
def export_datasets() -> Any:
    return jsonify(datasets=_exports().datasets())


@admin.post("/export")
def export_start() -> Any:
    data = body()
    experiment = name_arg("experiment", data.get("experiment") or ctx().current_experiment())
    datasets = data.get("datasets")
    if not isinstance(datasets, list) or not datasets:
        return fail("pick at least one dataset")
    try:
        job = _exports().start(experiment, [str(d) for d in datasets], str(data.get("format") or "csv"))
    except ValueError as e:
        return fail(str(e))
    return jsonify(job)


@admin.get("/export/<job_id>")
def export_status(job_id: str) -> Any:
    job = _exports().status(job_id)
    return jsonify(job) if job else fail("no such export", 404)


@admin.get("/export/<job_id>/download")
def export_download(job_id: str) -> Any:
    path = _exports().path(job_id)
    if path is None:
        return fail("this export is not ready (or does not exist)", 404)
    return send_file(path, mimetype="application/zip", as_attachment=True, download_name=path.name)


# ---------------------------------------------------------------------------- calibrations
@admin.get("/calibrations")
def calibrations_list() -> Any:
    out = []
    for device in calibrations.devices():
        active = calibrations.active_name(device)
        for name in calibrations.list_names(device):
            try:
                cal = calibrations.load(device, name)
            except Exception as e:  # noqa: BLE001 - a corrupt file is listed with its error
                out.append({"device": device, "name": name, "error": str(e), "active": name == active})
                continue
            xs = sorted(cal.recorded_x) or [0.0, 1.0]
            lo, hi = xs[0], xs[-1]
            grid = [lo + (hi - lo) * i / 49 for i in range(50)] if hi > lo else [lo]
            curve = []
            for x in grid:
                try:
                    curve.append([x, cal.predict(x)])
                except Exception:  # noqa: BLE001
                    break
            out.append({"device": device, "name": name, "active": name == active, "type": cal.calibration_type,
                        "x": cal.x, "y": cal.y, "x_unit": cal.x_unit, "y_unit": cal.y_unit,
                        "created_at": cal.created_at, "recorded_x": cal.recorded_x, "recorded_y": cal.recorded_y,
                        "curve": curve, "curve_type": cal.curve_type})
    return jsonify(unit=ctx().unit, calibrations=out)


@admin.post("/calibrations/<device>/active")
def calibrations_activate(device: str) -> Any:
    name = str(body().get("name") or "")
    try:
        calibrations.set_active(device, name)
    except Exception as e:  # noqa: BLE001 - the store's message says what is wrong
        return fail(str(e), 404)
    return jsonify(ok=True, device=device, active=name)


# ---------------------------------------------------------------------------- plugins and cluster
@admin.get("/plugins")
def plugins() -> Any:
    c = ctx()
    items = [{"name": p.name, "dist": p.dist, "version": p.version, "status": p.status, "error": p.error,
              "hooks": p.hooks, "source": p.source, "import_ms": round(p.import_ms, 1)} for p in c.plugins.plugins.values()]
    return jsonify(plugins=items, spec_errors=c.spec_errors)


def inventory_workers() -> dict[str, dict[str, Any]]:
    """pio-cluster's inventory of workers (its ``cluster.workers`` service; empty without it)."""
    if not has_service("cluster.workers"):
        return {}
    try:
        workers = service("cluster.workers")()
    except Exception:  # noqa: BLE001 - no inventory yet: the units seen on MQTT still show
        return {}
    return {w["unit"]: {k: w[k] for k in ("address", "active", "added_at", "last_seen_at")} for w in workers}


@admin.get("/cluster")
def cluster() -> Any:
    c = ctx()
    now = time.time()
    experiment = c.current_experiment()
    snapshot = c.hub.state.snapshot(experiment)
    unit_level = c.hub.state.snapshot("$experiment")  # the agent lives under the universal experiment
    workers = inventory_workers()
    units = []
    for unit in sorted(set(c.hub.state.units()) | {c.unit} | set(workers)):
        jobs = {j: s.get("$state") for j, s in snapshot.get(unit, {}).items() if s.get("$state")}
        seen = c.hub.state.last_seen.get(unit)
        units.append({"unit": unit, "leader": unit == c.unit, "last_seen_s": None if seen is None else round(now - seen, 1),
                      "jobs": jobs, "running": sum(1 for s in jobs.values() if s in ("ready", "sleeping", "init")),
                      "lost": sorted(j for j, s in jobs.items() if s == "lost"),
                      "agent": unit_level.get(unit, {}).get("agent", {}).get("$state"),
                      "versions": unit_level.get(unit, {}).get("agent", {}).get("versions"),
                      "inventory": workers.get(unit)})
    local = [r._asdict() for r in registry.running_jobs()]
    return jsonify(source="pio-cluster inventory + mqtt" if workers else "mqtt", experiment=experiment, units=units,
                   local_unit=c.unit, local_jobs=local,
                   mqtt={"host": c.address.host, "port": c.address.port, "connected": c.hub.client.connected,
                         "messages": c.hub.messages})


# ---------------------------------------------------------------------------- config
def _editor() -> ConfigEditor:
    c = ctx()
    return ConfigEditor(c.data_dir, c.plugins.config_defaults())


@admin.get("/config")
def config_show() -> Any:
    return jsonify(_editor().show())


@admin.post("/config/<name>")
def config_save(name: str) -> Any:
    text = body().get("text")
    if not isinstance(text, str):
        return fail("send {\"text\": ...}")
    try:
        result = _editor().save(name, text, dry_run=bool(body().get("dry_run")))
    except (ValueError, configparser.Error) as e:
        return fail(str(e), 422)
    return jsonify(result)


@admin.get("/config/history/<name>/<stamp>")
def config_old(name: str, stamp: str) -> Any:
    text = _editor().old(name, stamp)
    return jsonify(text=text) if text is not None else fail("no such version", 404)
