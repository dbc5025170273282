"""Login, sessions, CSRF and the login rate limit.

One password per leader (the lab's), set at setup (``[ui] password`` or ``pio ui password``) or
generated into ``<data dir>/ui_password`` (mode 0600) on first start and printed once. Sessions
are Flask's signed cookies (HttpOnly, SameSite=Lax) with a key kept in the data dir; every
change request must carry the session's CSRF token in ``X-CSRF-Token`` and a JSON body.
Failed logins are limited per client address and overall (``[ui] login_failures_per_minute``).
"""

from __future__ import annotations

import hmac
import os
import secrets
import threading
import time
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

from flask import jsonify, request, session
from werkzeug.security import check_password_hash, generate_password_hash

from .names import PASSWORD_FILE, SECRET_FILE

CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)


def secret_key(data_dir: Path) -> bytes:
    """The session-signing key, made once per data dir (sessions survive restarts)."""
    path = data_dir / "storage" / SECRET_FILE
    if not path.exists():
        _write_private(path, secrets.token_hex(32))
    return bytes.fromhex(path.read_text().strip())


def resolve_password(configured: str | None, data_dir: Path) -> tuple[str, bool]:
    """``(password, generated_now)``: the configured one, else the data dir's, else a new one."""
    if configured:
        return configured, False
    path = data_dir / PASSWORD_FILE
    if path.exists() and path.read_text().strip():
        return path.read_text().strip(), False
    password = "-".join(secrets.token_urlsafe(4).replace("-", "x").replace("_", "y") for _ in range(3))
    _write_private(path, password + "\n")
    return password, True


class LoginLimiter:
    """At most ``per_minute`` failed logins per address per minute, and 6x that overall."""

    def __init__(self, per_minute: int = 5):
        self.per_minute = max(1, per_minute)
        self._failures: dict[str, deque[float]] = defaultdict(deque)
        self._all: deque[float] = deque()
        self._lock = threading.Lock()

    def retry_after_s(self, address: str) -> float:
        now = time.monotonic()
        with self._lock:
            waits = []
            for queue, limit in ((self._failures[address], self.per_minute), (self._all, self.per_minute * 6)):
                while queue and now - queue[0] > 60:
                    queue.popleft()
                if len(queue) >= limit:
                    waits.append(60 - (now - queue[0]))
            return max(waits, default=0.0)

    def failed(self, address: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures[address].append(now)
            self._all.append(now)


class Auth:
    def __init__(self, password: str, limiter: LoginLimiter):
        self._hash = generate_password_hash(password)
        self.limiter = limiter

    def set_password(self, password: str) -> None:
        self._hash = generate_password_hash(password)

    def login(self, password: Any) -> tuple[dict[str, Any], int, dict[str, str]]:
        address = request.remote_addr or "?"
        wait = self.limiter.retry_after_s(address)
        if wait > 0:
            return ({"error": f"too many failed logins: try again in {wait:.0f} s"}, 429,
                    {"Retry-After": str(int(wait) + 1)})
        if not isinstance(password, str) or not password or len(password) > 200 \
                or not check_password_hash(self._hash, password):
            self.limiter.failed(address)
            return {"error": "wrong password"}, 401, {}
        session.clear()
        session.permanent = True
        session["user"] = "lab"
        session["csrf"] = secrets.token_urlsafe(32)
        return {"ok": True, "csrf": session["csrf"]}, 200, {}


def logged_in() -> bool:
    return session.get("user") == "lab"


def csrf_ok() -> bool:
    token = session.get("csrf")
    sent = request.headers.get(CSRF_HEADER, "")
    return bool(token) and hmac.compare_digest(str(token), sent)


def guard_request() -> Any:
    """``before_request`` for the API: login required; changes need CSRF and a JSON body."""
    if request.endpoint in ("api.login", "api.session_info") or not request.path.startswith("/api/"):
        if request.method not in SAFE_METHODS and request.path.startswith("/api/") and not request.is_json:
            return jsonify(error="send JSON (Content-Type: application/json)"), 415
        return None
    if not logged_in():
        return jsonify(error="log in first"), 401
    if request.method not in SAFE_METHODS:
        if not csrf_ok():
            return jsonify(error="missing or wrong CSRF token: reload the page"), 403
        if not request.is_json:
            return jsonify(error="send JSON (Content-Type: application/json)"), 415
    return None

