"""The ``ui`` job: serves the web UI (``pio run ui``; ``pio leader up`` starts it on the leader).

Its published settings say where it listens and how many browsers are connected. The web
server runs in a thread of the job's process; stopping the job stops the server and the UI's
MQTT subscription.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from pioreactor_kernel.config import get_config
from pioreactor_kernel.job import BackgroundJob
from pioreactor_kernel.settings import Setting

from .names import SECTION


class UIServer(BackgroundJob):
    """Serve the live web UI on [ui] host:port (login required; the password is printed on first start)."""

    job_name = "ui"
    published_settings = (
        Setting("url", "string", description="Where the UI listens"),
        Setting("port", "integer", minimum=1, maximum=65535, description="TCP port of the web server"),
    )

    @classmethod
    def cli_settings(cls) -> list[Setting]:
        return [Setting("port", "integer", minimum=1, maximum=65535, settable=True,
                        description="TCP port (default: [ui] port)"),
                Setting("host", "string", settable=True, description="Address to listen on (default: [ui] host)")]

    def __init__(self, port: int | None = None, host: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        from werkzeug.serving import make_server

        from .app import create_app
        from .auth import resolve_password

        config = get_config()
        host = host or config.get(SECTION, "host") or "0.0.0.0"
        port = int(port or config.getint(SECTION, "port", 8080) or 8080)
        password, generated = resolve_password(config.get(SECTION, "password"), self._data_dir())
        self.app, self.socketio, self.ctx = create_app(password)
        self.ctx.hub.start()
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request in the job's log
        self.server = make_server(host, port, self.app, threaded=True)
        self.port = self.server.server_port
        shown = "localhost" if host in ("0.0.0.0", "::") else host
        self.url = f"http://{shown}:{self.port}/"
        self._thread = threading.Thread(target=self.server.serve_forever, name="ui-http", daemon=True)
        self._thread.start()
        threading.Thread(target=self.ctx.history.prewarm, args=(self.ctx.current_experiment(),),
                         name="ui-prewarm", daemon=True).start()
        if generated:
            message = f"web UI password (generated, kept in {self._data_dir() / 'ui_password'}): {password}"
            print(f"[ui] {message}", flush=True)
        self.logger.info("web UI at %s (login required)", self.url)

    @staticmethod
    def _data_dir() -> Any:
        from pioreactor_kernel.paths import data_dir

        return data_dir()

    def on_disconnected(self) -> None:
        server = self.__dict__.get("server")
        if server is not None:
            server.shutdown()
            server.server_close()
        ctx = self.__dict__.get("ctx")
        if ctx is not None:
            try:
                ctx.history.save()  # the next start reads only the minutes since, not every row
            except Exception:  # noqa: BLE001 - a cache that cannot be written costs the next start time, nothing else
                self.logger.warning("could not save the charts' rollups", exc_info=True)
            ctx.hub.stop()
