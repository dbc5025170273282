"""The Flask-SocketIO app factory: plugins, login, the JSON API, the live hub, the browser app.

``create_app()`` loads the plugins (``plugin_manager()``), opens the leader's database when
pio-leader is installed, connects the one MQTT subscription and returns ``(app, socketio)``.
The browser app is one page built from ``frontend/`` into ``static/`` by ``build.sh``.
"""

from __future__ import annotations

import gzip
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_from_directory
from flask_socketio import SocketIO, join_room, leave_room
from pioreactor_kernel.config import get_config
from pioreactor_kernel.identity import unit_name
from pioreactor_kernel.mqtt import BrokerAddress, publish_once
from pioreactor_kernel.names import validate_name
from pioreactor_kernel.paths import data_dir
from pioreactor_kernel.plugins import plugin_manager

from . import auth
from .catalog import Catalog, all_series, ui_contributions
from .commands import Commands
from .history import History
from .live import LiveHub
from .names import ROOM_ALL, SECTION, experiment_room
from .store import Store

logger = logging.getLogger("pioreactor.ui")
STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class UIContext:
    """What the routes share: one per app."""

    def __init__(self, socketio: SocketIO, password: str, address: BrokerAddress | None) -> None:
        config = get_config()
        self.config = config
        self.unit = unit_name()
        self.data_dir = data_dir()
        self.address = address or BrokerAddress.from_config()
        self.plugins = plugin_manager()
        self.contributions, self.spec_errors = ui_contributions()
        self.series = all_series(self.contributions["chart"])
        self.catalog = Catalog()
        self.store = Store()
        self.history = History(
            self.store, self.series, config.getfloat(SECTION, "rollup_refresh_s", 30.0) or 30.0
        )
        self.auth = auth.Auth(
            password, auth.LoginLimiter(config.getint(SECTION, "login_failures_per_minute", 5) or 5)
        )
        flush_s = (config.getfloat(SECTION, "flush_interval_ms", 100.0) or 100.0) / 1000
        self.hub = LiveHub(
            socketio, self.series, self.address, flush_s, client_id=f"ui-{self.unit}-{id(self):x}"
        )
        self.commands = Commands(
            self.hub.state,
            self.catalog,
            self.publish,
            self.unit,
            self.data_dir / "logs",
            notify=self._job_failed,
        )
        self.socketio = socketio

    def publish(self, topic: str, payload: str, retain: bool = False) -> None:
        info = self.hub.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(5)

    def current_experiment(self) -> str:
        import os

        return self.hub.state.latest_experiment or os.environ.get("PIO_EXPERIMENT") or "default"

    def _job_failed(self, experiment: str, info: dict[str, Any]) -> None:
        self.socketio.emit("job_failed", info, to=experiment_room(experiment))


def create_app(
    password: str | None = None, address: BrokerAddress | None = None
) -> tuple[Flask, SocketIO, UIContext]:
    config = get_config()
    password, _ = auth.resolve_password(password or config.get(SECTION, "password"), data_dir())
    app = Flask(__name__, static_folder=None)
    app.config.update(
        SECRET_KEY=auth.secret_key(data_dir()),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_NAME="pio_session",
        PERMANENT_SESSION_LIFETIME=timedelta(days=config.getfloat(SECTION, "session_days", 14.0) or 14.0),
        MAX_CONTENT_LENGTH=1 << 20,
        JSON_SORT_KEYS=False,
    )
    # cors_allowed_origins left at its default (same origin): a page on another site cannot open the socket
    socketio = SocketIO(
        app,
        async_mode="threading",
        logger=False,
        engineio_logger=False,
        ping_interval=10,
        ping_timeout=10,
        max_http_buffer_size=64 * 1024,
    )
    ctx = UIContext(socketio, password, address)
    app.extensions["pio_ui"] = ctx

    from .api import api
    from .api_admin import admin

    app.register_blueprint(api)
    app.register_blueprint(admin)
    app.before_request(auth.guard_request)
    app.after_request(_finish)

    @app.get("/")
    def index() -> Any:
        if not (STATIC / "index.html").exists():
            return Response(
                "The UI's front end is not built: run `bash plugins/pio_ui/build.sh`.",
                503,
                mimetype="text/plain",
            )
        from .api import session_payload

        # The session goes into the page as a JSON data block (never executed; CSP unchanged), so the app
        # starts loading the overview's charts without waiting for /api/session first.
        boot = json.dumps(session_payload(), separators=(",", ":"))
        boot = boot.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        response = Response(_index_html().replace("%BOOT%", boot), mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.get("/assets/<path:name>")
    def assets(name: str) -> Any:
        gz = STATIC / "assets" / (name + ".gz")
        if "gzip" in request.headers.get("Accept-Encoding", "") and gz.exists():
            response = send_from_directory(STATIC / "assets", name + ".gz", max_age=31536000)
            response.headers["Content-Encoding"] = "gzip"
            response.headers["Content-Type"] = _mimetype(name)
            response.headers["Vary"] = "Accept-Encoding"
            return response
        return send_from_directory(STATIC / "assets", name, max_age=31536000)

    @socketio.on("connect")
    def on_connect(auth_data: Any = None) -> bool:
        if not auth.logged_in():
            return False
        join_room(ROOM_ALL)
        return True

    @socketio.on("join")
    def on_join(data: Any) -> Any:
        if not auth.logged_in():
            return {"error": "log in first"}
        experiment = data.get("experiment") if isinstance(data, dict) else None
        try:
            experiment = validate_name("experiment", str(experiment))
        except ValueError as e:
            return {"error": str(e)}
        previous = data.get("leave")
        if isinstance(previous, str):
            leave_room(experiment_room(previous))
        join_room(experiment_room(experiment))
        return {
            "experiment": experiment,
            "jobs": ctx.hub.state.snapshot(experiment),
            "latest_experiment": ctx.current_experiment(),
            "units": ctx.hub.state.units(),
        }

    return app, socketio, ctx


_index_cache: tuple[float, str] = (0.0, "")


def _index_html() -> str:
    global _index_cache
    path = STATIC / "index.html"
    mtime = path.stat().st_mtime
    if _index_cache[0] != mtime:
        _index_cache = (mtime, path.read_text())
    return _index_cache[1]


def _mimetype(name: str) -> str:
    return {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}.get(
        Path(name).suffix, "application/octet-stream"
    )


def _finish(response: Response) -> Response:
    h = response.headers
    h.setdefault("Content-Security-Policy", CSP)
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Referrer-Policy", "same-origin")
    if request.path.startswith("/api/"):
        h.setdefault("Cache-Control", "no-store")
        if (
            response.mimetype == "application/json"
            and not response.direct_passthrough
            and "gzip" in request.headers.get("Accept-Encoding", "")
            and "Content-Encoding" not in h
        ):
            body = response.get_data()
            if len(body) > 1024:
                response.set_data(
                    gzip.compress(body, 3)
                )  # level 3: most of the gain for a third of the CPU of 6
                h["Content-Encoding"] = "gzip"
                h["Vary"] = "Accept-Encoding"
    return response


def publish_experiment(ctx: UIContext, experiment: str) -> None:
    from pioreactor_kernel.names import LATEST_EXPERIMENT_TOPIC

    publish_once(LATEST_EXPERIMENT_TOPIC, experiment, retain=True, address=ctx.address)


def json_error(message: str, status: int = 400) -> Any:
    return jsonify(error=message), status
