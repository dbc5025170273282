"""Helpers for pio-ui's tests (and for plugins that test their UI contributions): an API client
with a session and CSRF token, screenshots kept as artifacts, a browser login."""

from __future__ import annotations

import http.cookiejar
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ARTIFACTS = Path(__file__).resolve().parents[3] / "artifacts" / "ui"
PASSWORD = "correct-horse-battery"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Chromium 15x builds each new window's toolbar and omnibox popup as WebUI pages in a
    # renderer of their own: ~0.5 s of CPU per browser context that a headless test never shows
    "--disable-features=PreloadTopChromeWebUI,InitialWebUI,WebUIToolbar,WebUILocationBar,"
    "WebUIReloadButton,WebUIOmniboxPopup,WebUIOmniboxFullPopup",
]


class Client:
    """A tiny HTTP client with a cookie jar (the API as a browser would use it)."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.csrf: str | None = None

    def call(
        self, method: str, path: str, body: object = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        hdrs = {"Content-Type": "application/json", **(headers or {})}
        if self.csrf and method != "GET" and "X-CSRF-Token" not in hdrs:
            hdrs["X-CSRF-Token"] = self.csrf
        request = urllib.request.Request(self.url.rstrip("/") + path, data=data, headers=hdrs, method=method)
        try:
            with self.opener.open(request, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            raw = e.read()
            return e.code, json.loads(raw) if raw.startswith(b"{") else raw.decode(errors="replace")

    def login(self, password: str = PASSWORD) -> Client:
        status, body = self.call("POST", "/api/login", {"password": password})
        assert status == 200, body
        self.csrf = body["csrf"]
        return self


def need_job(catalog: dict[str, Any], job: str) -> None:
    if job not in {j["name"] for j in catalog["jobs"]}:
        pytest.skip(f"job {job} is not installed (plugin isolation run)")


def shot(page: Any, name: str, full_page: bool = True) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def login(page: Any, password: str = PASSWORD) -> None:
    page.goto(page.base_url + "/")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if password == PASSWORD:
        page.get_by_role("navigation", name="Pages").wait_for()


def utc_stamp(t: float) -> str:
    """A timestamp of the wire dialect for epoch seconds ``t``."""
    from datetime import UTC, datetime

    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def insert_temperatures(store: Any, rows: list[tuple[str, float, float]], experiment: str = "e") -> None:
    """Store ``(unit, epoch seconds, °C)`` rows in ``temperature_readings``, in one transaction (history tests)."""
    with store.db.connection_context():
        store.db.execute_sql("BEGIN")
        store.db.cursor().executemany(
            "INSERT INTO temperature_readings (experiment, pioreactor_unit, timestamp, temperature_c) VALUES (?, ?, ?, ?)",
            [(experiment, u, utc_stamp(t), v) for u, t, v in rows],
        )
        store.db.execute_sql("COMMIT")
