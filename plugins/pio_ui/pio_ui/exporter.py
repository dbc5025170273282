"""Exports for the browser: datasets of one experiment to a zip of CSV files, with progress.

Runs in a background thread and streams rows from the database in pages (memory stays flat).
pio-leader's own ``pio export`` (issue 9) is the command-line path; this one exists so the page
works with what the database holds today, and reads the same tables.
"""

from __future__ import annotations

import csv
import io
import threading
import time
import uuid
import zipfile
from pathlib import Path
from typing import Any

from .store import Store

PAGE = 20_000
KEEP_S = 3600


class Exports:
    def __init__(self, store: Store, directory: Path):
        self.store, self.directory = store, directory
        self.jobs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def datasets(self) -> list[dict[str, Any]]:
        if not self.store.available:
            return []
        try:
            from pio_leader.streams import DATASETS
        except ImportError:
            return []
        return [{"name": name, "columns": [f.column_name for f in model._meta.sorted_fields if f.column_name != "id"],
                 "units": dict(getattr(model, "units", {}))}
                for name, model in DATASETS.items() if self.store.table_exists(name)]

    def start(self, experiment: str, datasets: list[str]) -> dict[str, Any]:
        known = {d["name"]: d for d in self.datasets()}
        unknown = [d for d in datasets if d not in known]
        if unknown:
            raise ValueError(f"unknown dataset(s) {', '.join(unknown)} (known: {', '.join(known) or 'none'})")
        job_id = uuid.uuid4().hex[:12]
        job = {"id": job_id, "experiment": experiment, "datasets": datasets, "done_rows": 0, "total_rows": None,
               "state": "running", "error": None, "file": None, "started": time.time()}
        with self._lock:
            self._expire()
            self.jobs[job_id] = job
        threading.Thread(target=self._run, args=(job, [known[d] for d in datasets]), daemon=True).start()
        return dict(job)

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

    def _run(self, job: dict[str, Any], datasets: list[dict[str, Any]]) -> None:
        try:
            experiment = job["experiment"]
            job["total_rows"] = sum(self.store.rows(f"SELECT COUNT(*) FROM {d['name']} WHERE experiment = ?",
                                                    [experiment])[0][0] for d in datasets)
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}-{job['id'][:6]}.zip"
            with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
                manifest = ["dataset,columns,units"]
                for d in datasets:
                    columns = d["columns"]
                    manifest.append(f"{d['name']},{' '.join(columns)},{' '.join(f'{k}={v}' for k, v in d['units'].items())}")
                    with zf.open(f"{d['name']}.csv", "w") as raw:
                        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
                        writer = csv.writer(text)
                        writer.writerow(columns)
                        last = -1
                        while True:  # keyset pages over the row id: memory stays flat
                            rows = self.store.rows(
                                f"SELECT id, {', '.join(columns)} FROM {d['name']} WHERE experiment = ? AND id > ? "
                                f"ORDER BY id LIMIT {PAGE}", [experiment, last])
                            if not rows:
                                break
                            writer.writerows(r[1:] for r in rows)
                            job["done_rows"] += len(rows)
                            last = rows[-1][0]
                            if len(rows) < PAGE:
                                break
                        text.flush()
                        text.detach()
                zf.writestr("manifest.csv", "\n".join(manifest) + "\n")
            job["path"], job["file"], job["state"] = path, path.name, "done"
        except Exception as e:  # noqa: BLE001 - shown on the page
            job["state"], job["error"] = "failed", f"{type(e).__name__}: {e}"
