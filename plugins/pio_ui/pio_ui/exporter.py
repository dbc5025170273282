"""Exports for the browser: pio-leader's streamed exporter (``pio export``, its ``leader.export``
service) run in a thread, with progress, to a zip the browser downloads (CSV or Parquet, with
pio-leader's manifest). Without pio-leader or its database every call answers 503 with why."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

from .store import MISSING, Store, StoreUnavailable, leader_service

KEEP_S = 3600
FORMATS = ("csv", "parquet")


class Exports:
    def __init__(self, store: Store, directory: Path):
        self.store, self.directory = store, directory
        self.jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _export(self) -> Any:
        """The ``leader.export`` service; :class:`StoreUnavailable` (503) without it or without the database."""
        exports = leader_service("leader.export")
        if not self.store.available:
            raise StoreUnavailable(self.store.error or MISSING)
        return exports

    def datasets(self) -> list[dict[str, Any]]:
        return [{"name": d.name, "columns": d.columns, "units": d.units}
                for d in self._export().datasets().values() if self.store.table_exists(d.name)]

    def start(self, experiment: str, names: list[str], fmt: str = "csv") -> dict[str, Any]:
        exports = self._export()
        known = exports.datasets()
        unknown = [d for d in names if d not in known]
        if unknown:
            raise ValueError(f"unknown dataset(s) {', '.join(unknown)} (known: {', '.join(known) or 'none'})")
        if fmt not in FORMATS:
            raise ValueError(f"format {fmt!r}: one of {', '.join(FORMATS)}")
        job_id = uuid.uuid4().hex[:12]
        job = {"id": job_id, "experiment": experiment, "datasets": names, "format": fmt, "done_rows": 0,
               "total_rows": None, "state": "running", "error": None, "file": None, "started": time.time()}
        with self._lock:
            self._expire()
            self.jobs[job_id] = job
        threading.Thread(target=self._run, args=(exports, job, [known[d] for d in names]), daemon=True).start()
        return self.status(job_id) or {}

    def status(self, job_id: str) -> dict[str, Any] | None:
        job = self.jobs.get(job_id)
        return None if job is None else {k: v for k, v in job.items() if k != "path"}

    def path(self, job_id: str) -> Path | None:
        job = self.jobs.get(job_id)
        return job["path"] if job and job["state"] == "done" else None

    def _expire(self) -> None:
        for job_id, job in list(self.jobs.items()):
            if time.time() - job["started"] > KEEP_S:
                if job.get("path"):
                    job["path"].unlink(missing_ok=True)
                del self.jobs[job_id]

    def _run(self, exports: Any, job: dict[str, Any], chosen: list[Any]) -> None:
        def advance(rows: int) -> None:
            job["done_rows"] += rows

        try:
            experiment, db = job["experiment"], self.store.db
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}-{job['id'][:6]}.zip"
            with db.connection_context():
                job["total_rows"] = sum(exports.count_rows(db, d, experiment) for d in chosen)
                exports.export_experiment(db, chosen, experiment, path, fmt=job["format"], progress=advance)
            job["path"], job["file"], job["state"] = path, path.name, "done"
        except Exception as e:  # noqa: BLE001 - shown on the page
            job["state"], job["error"] = "failed", f"{type(e).__name__}: {e}"
