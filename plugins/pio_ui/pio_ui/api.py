"""The JSON API for the browser (documented in docs/ui.md): session, catalog, units and their
jobs, history downsampled per window and width, logs, experiments."""

from __future__ import annotations

import math
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request, session
from pioreactor_kernel.names import validate_name
from pioreactor_kernel.services import has_service, service

from . import __version__, auth
from .commands import CommandError
from .store import StoreUnavailable

api = Blueprint("api", __name__, url_prefix="/api")


def ctx() -> Any:
    return current_app.extensions["pio_ui"]


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else {}


def fail(message: str, status: int = 400) -> Any:
    return jsonify(error=message), status


def name_arg(kind: str, value: Any) -> str:
    try:
        return validate_name(kind, str(value))
    except ValueError as e:
        raise CommandError(str(e)) from None


@api.errorhandler(CommandError)
def _command_error(e: CommandError) -> Any:
    return fail(str(e), e.status)


@api.errorhandler(StoreUnavailable)
def _store_missing(e: StoreUnavailable) -> Any:
    return fail(str(e), 503)


# ---------------------------------------------------------------------------- session
def session_payload() -> dict[str, Any]:
    """What a page needs to start; also written into the page itself so it needs no round trip first."""
    c = ctx()
    if not auth.logged_in():
        return {"authenticated": False}
    series = [
        {"name": s.name, "title": s.title, "unit": s.unit, "step": s.step, "plugin": s.plugin, "job": s.job}
        for s in c.series
    ]  # here too, so the overview's charts need not wait for the catalog
    experiment = c.current_experiment()
    return {
        "authenticated": True,
        "csrf": session.get("csrf"),
        "unit": c.unit,
        "version": __version__,
        "experiment": experiment,
        "history": c.store.available,
        "history_error": c.store.error,
        "series": series,
        "units": unit_names(experiment)[0],
    }


@api.get("/session")
def session_info() -> Any:
    return jsonify(session_payload())


@api.post("/login")
def login() -> Any:
    result, status, headers = ctx().auth.login(body().get("password"))
    return jsonify(result), status, headers


@api.post("/logout")
def logout() -> Any:
    session.clear()
    return jsonify(ok=True)


# ---------------------------------------------------------------------------- catalog
@api.get("/catalog")
def catalog() -> Any:
    c = ctx()
    series = [
        {"name": s.name, "title": s.title, "unit": s.unit, "step": s.step, "plugin": s.plugin, "job": s.job}
        for s in c.series
    ]
    return jsonify(
        jobs=list(c.catalog.jobs().values()),
        automations=c.catalog.automations(),
        series=series,
        panels=c.contributions["panel"],
        pages=c.contributions["page"],
        charts=c.contributions["chart"],
        spec_errors=c.spec_errors,
    )


# ---------------------------------------------------------------------------- units and jobs
@api.get("/units")
def units() -> Any:
    c = ctx()
    experiment = name_arg("experiment", request.args.get("experiment") or c.current_experiment())
    names, assigned = unit_names(experiment)
    now = time.time()
    seen = {u: round(now - t, 1) for u, t in c.hub.state.last_seen.items()}
    return jsonify(
        experiment=experiment,
        units=names,
        local_unit=c.unit,
        assigned=assigned,
        last_seen_s=seen,
        jobs=c.hub.state.snapshot(experiment),
    )


def unit_names(experiment: str) -> tuple[list[str], list[str]]:
    """(every unit the cluster knows, sorted: their order fixes their colours; those assigned to ``experiment``)."""
    c = ctx()
    assigned: list[str] = []
    if c.store.available and has_service("leader.experiments"):
        try:
            ex = service("leader.experiments")
            with c.store.db.connection_context():
                assigned = ex.get(experiment).units
        except Exception:  # noqa: BLE001 - an experiment not in the database yet
            assigned = []
    return sorted(set(c.hub.state.units()) | set(assigned) | {c.unit}), assigned


def _targets(unit: str, experiment: str) -> list[str]:
    """``$all`` means every unit with a job in this experiment, plus the local one."""
    c = ctx()
    if unit != "$all":
        return [name_arg("unit", unit)]
    return sorted(set(c.hub.state.snapshot(experiment)) | {c.unit})


def _each(unit: str, experiment: str, action: Any) -> Any:
    targets = _targets(unit, experiment)
    if len(targets) == 1 and unit != "$all":
        return jsonify(action(targets[0]))
    results = {}
    for target in targets:
        try:
            results[target] = action(target)
        except CommandError as e:
            results[target] = {"ok": False, "error": str(e)}
    return jsonify(ok=all(r.get("ok") for r in results.values()), results=results)


@api.post("/units/<unit>/jobs/<job>/start")
def start_job(unit: str, job: str) -> Any:
    data = body()
    experiment = name_arg("experiment", data.get("experiment") or ctx().current_experiment())
    return _each(
        unit, experiment, lambda u: ctx().commands.start(experiment, u, job, data.get("options") or {})
    )


@api.post("/units/<unit>/jobs/<job>/<action>")
def job_action(unit: str, job: str, action: str) -> Any:
    data = body()
    experiment = name_arg("experiment", data.get("experiment") or ctx().current_experiment())
    if action == "automation":
        return _each(
            unit,
            experiment,
            lambda u: ctx().commands.switch_automation(
                experiment, u, job, data.get("automation_name"), data.get("args") or {}
            ),
        )
    return _each(unit, experiment, lambda u: ctx().commands.set_state(experiment, u, job, action))


@api.post("/units/<unit>/jobs/<job>/settings/<setting>")
def set_setting(unit: str, job: str, setting: str) -> Any:
    data = body()
    if "value" not in data:
        return fail('send {"value": ...}')
    experiment = name_arg("experiment", data.get("experiment") or ctx().current_experiment())
    return _each(
        unit, experiment, lambda u: ctx().commands.set_setting(experiment, u, job, setting, data["value"])
    )


# ---------------------------------------------------------------------------- history
def _number(name: str, default: float | None = None) -> float:
    raw = request.args.get(name)
    if raw is None:
        if default is None:
            raise CommandError(f"missing {name}")
        return default
    try:
        value = float(raw)
    except ValueError:
        raise CommandError(f"{name}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise CommandError(f"{name} must be finite")
    return value


def _history_args() -> tuple[str, float, float, int, int | None]:
    experiment = name_arg("experiment", request.args.get("experiment") or ctx().current_experiment())
    end = _number("end", time.time())
    start = _number("start", end - 86400)
    width = int(_number("width", 800))
    bucket = request.args.get("bucket_s")
    return experiment, start, end, width, int(bucket) if bucket and bucket.isdigit() else None


@api.get("/history/<series>")
def history(series: str) -> Any:
    c = ctx()
    experiment, start, end, width, bucket = _history_args()
    try:
        result = c.history.query(
            experiment, series, start, end, width, set(c.hub.state.snapshot(experiment)), bucket
        )
    except KeyError as e:
        return fail(str(e.args[0]), 404)
    except ValueError as e:
        return fail(str(e))
    result["history"] = c.store.available
    return jsonify(result)


@api.get("/history")
def history_many() -> Any:
    """Several charts' history over one window in one answer: ``{"charts": {name: <as /history/<name>>}}``,
    lines packed (see History.query) unless ``format=plain``.

    A page's charts load together (one request, one server thread, no contention between six);
    a chart that fails gets ``{"error": ...}`` in its place and the others still load."""
    c = ctx()
    names = [n for n in request.args.get("series", "").split(",") if n]
    if not names or len(names) > 64:
        return fail("name 1 to 64 charts: series=od,temperature,...")
    experiment, start, end, width, bucket = _history_args()
    packed = request.args.get("format", "packed") == "packed"
    t0, cpu0 = time.perf_counter(), time.thread_time()
    known = set(c.hub.state.snapshot(experiment))
    charts: dict[str, Any] = {}
    for name in dict.fromkeys(names):
        try:
            charts[name] = c.history.query(experiment, name, start, end, width, known, bucket, packed=packed)
        except KeyError as e:
            charts[name] = {"error": str(e.args[0]), "status": 404}
        except ValueError as e:
            return fail(str(e))
    response = jsonify(charts=charts, history=c.store.available)
    # wall and CPU time of the queries (wall >> CPU: the server waited for the processor or the GIL)
    response.headers["Server-Timing"] = (
        f"history;dur={1000 * (time.perf_counter() - t0):.1f}, "
        f"cpu;dur={1000 * (time.thread_time() - cpu0):.1f}"
    )
    return response


@api.get("/dosing")
def dosing() -> Any:
    c = ctx()
    experiment = name_arg("experiment", request.args.get("experiment") or c.current_experiment())
    end = _number("end", time.time())
    return jsonify(events=c.history.dosing_events(experiment, _number("start", end - 86400), end))


@api.get("/experiments/<experiment>/span")
def span(experiment: str) -> Any:
    """When the experiment started (its record, else its first stored reading): the 'all' window."""
    c = ctx()
    experiment = name_arg("experiment", experiment)
    start = None
    if c.store.available:
        rows = c.store.rows(
            f"SELECT MIN({c.store.epoch_expr('created_at')}) FROM experiments WHERE experiment = ?",
            [experiment],
        )
        start = rows[0][0] if rows else None
        for table in ("od_readings", "temperature_readings", "stirring_rates"):
            if c.store.table_exists(table):
                first = c.store.rows(
                    f"SELECT MIN({c.store.epoch_expr()}) FROM (SELECT timestamp FROM {table} "
                    "WHERE experiment = ? ORDER BY experiment, timestamp LIMIT 1) AS f",
                    [experiment],
                )
                if first and first[0][0] is not None:
                    start = first[0][0] if start is None else min(start, first[0][0])
    return jsonify(experiment=experiment, start=start, now=time.time())


# ---------------------------------------------------------------------------- logs
@api.get("/logs")
def logs() -> Any:
    c = ctx()
    experiment = name_arg("experiment", request.args.get("experiment") or c.current_experiment())
    if not c.store.available or not c.store.table_exists("logs"):
        return jsonify(logs=[], history=False, error=c.store.error)
    where, params = ["experiment = ?"], [experiment]
    levels = [lv for lv in request.args.get("levels", "").upper().split(",") if lv]
    if levels:
        where.append(f"level IN ({', '.join('?' * len(levels))})")
        params += levels
    if request.args.get("unit"):
        where.append("pioreactor_unit = ?")
        params.append(name_arg("unit", request.args["unit"]))
    if request.args.get("q"):
        where.append("(message LIKE ? OR task LIKE ?)")
        needle = "%" + request.args["q"][:200].replace("%", "").replace("_", "") + "%"
        params += [needle, needle]
    limit = max(1, min(int(_number("limit", 300)), 2000))
    rows = c.store.rows(
        f"SELECT pioreactor_unit, timestamp, level, task, message FROM logs WHERE {' AND '.join(where)} "
        f"ORDER BY timestamp DESC LIMIT {limit}",
        params,
    )
    return jsonify(logs=[list(r) for r in rows], history=True)
