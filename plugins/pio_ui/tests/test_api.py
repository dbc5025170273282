"""The JSON API's security and validation, against the running server (and an in-process app)."""

from __future__ import annotations

import pytest

from pio_ui.testing import PASSWORD, need_job


def test_every_api_route_needs_a_login(leader):
    c = leader.client()
    for path in ("/api/units", "/api/catalog", "/api/history/od", "/api/logs", "/api/config", "/api/cluster"):
        status, body = c.call("GET", path)
        assert status == 401, (path, body)
    assert c.call("POST", "/api/units/leader/jobs/stirring/start", {})[0] == 401


def test_changes_need_the_csrf_token_and_json(leader):
    c = leader.client().login()
    status, body = c.call(
        "POST", "/api/units/leader/jobs/stirring/stop", {}, headers={"X-CSRF-Token": "forged"}
    )
    assert status == 403 and "CSRF" in body["error"]
    status, _ = c.call(
        "POST", "/api/units/leader/jobs/stirring/stop", None, headers={"Content-Type": "text/plain"}
    )
    assert status in (403, 415)


def test_bad_requests_are_refused_with_a_reason(leader, catalog):
    need_job(catalog, "stirring")
    c = leader.client().login()
    assert c.call("POST", "/api/units/leader/jobs/no_such_job/start", {})[0] == 404
    status, body = c.call(
        "POST", "/api/units/leader/jobs/stirring/start", {"options": {"target_rpm": "fast"}}
    )
    assert status in (400, 409) and ("not a number" in body["error"] or "already running" in body["error"])
    status, body = c.call("POST", "/api/units/leader/jobs/stirring/start", {"options": {"rpm": 100}})
    assert status in (400, 409)
    status, body = c.call("POST", "/api/units/leader/jobs/light_meter/settings/gain", {"value": "nan"})
    assert status in (400, 409)
    status, body = c.call("POST", "/api/units/bad/unit/jobs/stirring/start", {})
    assert status == 404
    status, body = c.call("GET", "/api/history/od?start=10&end=5")
    assert status == 400 and "start < end" in body["error"]
    status, body = c.call("GET", "/api/history/nope")
    assert status == 404
    status, body = c.call("GET", "/api/history/od?width=inf")
    assert status == 400
    status, body = c.call("GET", "/api/history?series=")
    assert status == 400 and "series=" in body["error"]
    status, body = c.call("GET", "/api/history?series=od,temperature&start=10&end=5")
    assert status == 400 and "start < end" in body["error"]


def test_several_charts_in_one_request_packed_or_plain(leader):
    import time

    c = leader.client().login()
    window = f"start={time.time() - 3600}&end={time.time() + 5}&width=300"
    status, body = c.call("GET", f"/api/history?series=od,temperature,nope&{window}")
    assert status == 200, body
    assert set(body["charts"]) == {"od", "temperature", "nope"}
    assert body["charts"]["nope"]["status"] == 404 and "no chart" in body["charts"]["nope"]["error"]
    assert body["charts"]["od"]["n"] == body["charts"]["temperature"]["n"] > 0
    assert all({"e", "d", "gaps"} <= set(line) for line in body["charts"]["temperature"]["data"].values())
    status, plain = c.call("GET", f"/api/history?series=temperature&format=plain&{window}")
    assert status == 200 and all(
        {"min", "max"} == set(line) for line in plain["charts"]["temperature"]["data"].values()
    )


def test_no_secrets_in_pages_and_masked_secrets_are_kept_on_save(leader):
    (leader.data_dir / "config.ini").write_text(
        "[mqtt]\npassword = s3cret-broker\n[stirring]\ntarget_rpm = 400\n"
    )
    c = leader.client().login()
    status, body = c.call("GET", "/api/config")
    assert status == 200 and "s3cret-broker" not in str(body) and PASSWORD not in str(body)
    text = body["files"]["config.ini"].replace("400", "420")
    status, body = c.call("POST", "/api/config/config.ini", {"text": text})
    assert status == 200, body
    saved = (leader.data_dir / "config.ini").read_text()
    assert "s3cret-broker" in saved and "420" in saved
    status, body = c.call("POST", "/api/config/config.ini", {"text": "[ui]\nflush_interval_ms = fast\n"})
    assert status == 422 and "expected a number" in body["error"]
    status, body = c.call("POST", "/api/config/config.ini", {"text": "no section = 1\n"})
    assert status == 422 and "line 1" in body["error"]
    assert "420" in (leader.data_dir / "config.ini").read_text()
    status, body = c.call("GET", "/api/config")
    assert any(v.endswith("config.ini") for v in body["history"])
    import urllib.request

    html = urllib.request.urlopen(leader.url + "/").read().decode()
    assert PASSWORD not in html and "csrf" not in html.lower()


@pytest.fixture
def app(make_app):
    return make_app(PIO__ui__login_failures_per_minute="3")


def test_failed_logins_are_rate_limited_per_address(app):
    client = app.test_client()
    for _ in range(3):
        assert client.post("/api/login", json={"password": "guess"}).status_code == 401
    refused = client.post("/api/login", json={"password": "right-password"})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    other = app.test_client()
    ok = other.post(
        "/api/login", json={"password": "right-password"}, environ_base={"REMOTE_ADDR": "10.9.9.9"}
    )
    assert ok.status_code == 200 and ok.get_json()["csrf"]


def test_the_session_cookie_is_http_only_and_same_site(app):
    client = app.test_client()
    response = client.post("/api/login", json={"password": "right-password"})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]


def test_the_live_socket_refuses_other_origins(leader):
    import urllib.error
    import urllib.request

    def handshake(origin: str) -> int:
        request = urllib.request.Request(
            leader.url + "/socket.io/?EIO=4&transport=polling", headers={"Origin": origin}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    assert handshake("http://evil.example") == 400
    assert handshake(leader.url) in (200, 401)  # same origin gets as far as the login check
