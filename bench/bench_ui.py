"""Benchmark of the web UI (pio-ui), in Debian's headless Chromium on this machine.

1. Overview load: 7 days x 16 units of 5-second data (OD, filtered OD, growth rate, temperature,
   RPM; volume changes every 10 min), one spike per unit hidden in the OD. Each load is a
   navigation in a fresh browser context (no HTTP cache, cold JavaScript), started once Chromium's
   own new-window work has settled. Measured in the page from its first line (an init script; the
   harness evaluates nothing in the page while it loads): the time from navigation start until every
   chart has drawn its lines and that frame is painted, bytes transferred (transferSize of the
   document and every resource), long tasks (PerformanceObserver 'longtask': > 50 ms, > 100 ms, the
   longest) until then, the history request's timing (sent, answered, server wall and CPU time from
   its Server-Timing header), and whether every spike is still in the downsampled OD. The first load
   after the server starts (its saved rollups removed first) waits for the rollups' build; then
   --loads warm loads: median [min-max]; then the server is restarted over the same data dir and the
   first load after that waits for the rollups loaded from the cache the first server saved.
2. Live: 16 units publishing every second into an open overview: JS heap after GC over time
   (bounded buffers: flat), and the page's main-thread CPU, live and idle.
3. Fan-out: 16 units publishing every second to 20 connected Socket.IO clients: the server's
   CPU and the latency from MQTT publish to the client's event (median, p99).

The machine's load average is printed with the figures: other work on this 2-core machine slows
every part (the server and the browser wait for a processor).

Usage: .venv/bin/python bench/bench_ui.py [--loads 7] [--live-s 120] [--fanout-s 60] [--clients 20]
       [--only overview|live|fanout ...]
Needs: pio-ui built (bash plugins/pio_ui/build.sh), pio-leader, chromium, playwright, python-socketio.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path
from typing import Any

from pio_ui.testing import CHROMIUM, CHROMIUM_ARGS  # Debian's Chromium, with the flags the tests use

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("PIO_UI_BENCH_DIR", "/tmp/pio-ui-bench"))
UNITS = [f"unit{i:02d}" for i in range(1, 17)]
EXPERIMENT = "bench"
PASSWORD = "bench-password"
DAYS, STEP_S = 7, 5


def stamp(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# ---------------------------------------------------------------------------- data
def make_database(data_dir: Path, end: float) -> dict[str, float]:
    """The leader's database with 7 days x 16 units of 5 s data; returns the spike of each unit."""
    marker = data_dir / "bench-data.json"
    if marker.exists():
        return json.loads(marker.read_text())["spikes"]
    env = {**os.environ, "PIO_DATA_DIR": str(data_dir)}
    subprocess.run(
        [sys.executable, "-m", "pioreactor_kernel", "db", "migrate"], env=env, check=True, capture_output=True
    )
    db = sqlite3.connect(data_dir / "storage" / "pioreactor.sqlite")
    db.execute("PRAGMA journal_mode=wal")
    db.execute("PRAGMA synchronous=off")
    n = DAYS * 86400 // STEP_S
    start = end - n * STEP_S
    times = [start + i * STEP_S for i in range(n)]
    stamps = [stamp(t) for t in times]
    rng = random.Random(1)
    spikes: dict[str, float] = {}
    t0 = time.perf_counter()
    db.execute(
        "INSERT OR IGNORE INTO experiments (experiment, created_at, description) VALUES (?, ?, ?)",
        (EXPERIMENT, stamps[0], "7 days x 16 units of 5 s data"),
    )
    for k, unit in enumerate(UNITS):
        mu = 0.25 + 0.02 * k
        od = [
            0.05 + 1.2 / (1 + math.exp(-(t - start) / 86400 * mu * 8 + 4)) + rng.gauss(0, 0.004)
            for t in times
        ]
        spike_i = rng.randrange(n)
        od[spike_i] = 5.0 + k  # one sample; even a 7-day view must keep it
        spikes[unit] = od[spike_i]
        db.executemany(
            "INSERT INTO od_readings (experiment, pioreactor_unit, timestamp, channel, od_reading, angle, "
            "ir_led_intensity, calibrated) VALUES (?, ?, ?, '2', ?, '90', 50, 0)",
            ((EXPERIMENT, unit, s, v) for s, v in zip(stamps, od, strict=True)),
        )
        db.executemany(
            "INSERT INTO od_readings_filtered (experiment, pioreactor_unit, timestamp, normalized_od_reading) "
            "VALUES (?, ?, ?, ?)",
            ((EXPERIMENT, unit, s, v / 0.05) for s, v in zip(stamps, od, strict=True)),
        )
        db.executemany(
            "INSERT INTO growth_rates (experiment, pioreactor_unit, timestamp, rate) VALUES (?, ?, ?, ?)",
            (
                (EXPERIMENT, unit, s, mu * (1 - v / 1.3) + rng.gauss(0, 0.01))
                for s, v in zip(stamps, od, strict=True)
            ),
        )
        db.executemany(
            "INSERT INTO temperature_readings (experiment, pioreactor_unit, timestamp, temperature_c) "
            "VALUES (?, ?, ?, ?)",
            ((EXPERIMENT, unit, s, 37 + rng.gauss(0, 0.05)) for s in stamps),
        )
        db.executemany(
            "INSERT INTO stirring_rates (experiment, pioreactor_unit, timestamp, measured_rpm) "
            "VALUES (?, ?, ?, ?)",
            ((EXPERIMENT, unit, s, 500 + rng.gauss(0, 3)) for s in stamps),
        )
        db.executemany(
            "INSERT INTO settings_history (experiment, pioreactor_unit, timestamp, job_name, setting, value) "
            "VALUES (?, ?, ?, 'bioreactor', 'current_volume_ml', ?)",
            ((EXPERIMENT, unit, stamps[i], f"{14 + (i // 120) % 3 * 0.5:.2f}") for i in range(0, n, 120)),
        )
        db.commit()
        print(f"   {unit}: {5 * n:,} rows ({time.perf_counter() - t0:.0f} s)", flush=True)
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    marker.write_text(json.dumps({"spikes": spikes, "end": end}))
    return spikes


def fill_last_hour(data_dir: Path, now: float) -> int:
    """The last hour of 5 s readings of every unit, as the live publisher sends them: the live page's
    1 h window starts full (as it is on a running cluster), so its memory is at its bound from the start."""
    db = sqlite3.connect(data_dir / "storage" / "pioreactor.sqlite")
    times = [now - 3600 + i * STEP_S for i in range(3600 // STEP_S)]
    rows = 0
    for i, unit in enumerate(UNITS):
        od = [(EXPERIMENT, unit, stamp(t), 1.0 + 0.05 * math.sin(t / 60 + i)) for t in times]
        db.executemany(
            "INSERT OR IGNORE INTO od_readings (experiment, pioreactor_unit, timestamp, channel, od_reading, angle, "
            "ir_led_intensity, calibrated) VALUES (?, ?, ?, '2', ?, '90', 50, 0)",
            od,
        )
        db.executemany(
            "INSERT OR IGNORE INTO od_readings_filtered (experiment, pioreactor_unit, timestamp, "
            "normalized_od_reading) VALUES (?, ?, ?, ?)",
            [(e, u, ts, v / 0.05) for e, u, ts, v in od],
        )
        for table, column, value in (
            ("growth_rates", "rate", 0.3),
            ("temperature_readings", "temperature_c", 37.0),
            ("stirring_rates", "measured_rpm", 500.0),
        ):
            db.executemany(
                f"INSERT OR IGNORE INTO {table} (experiment, pioreactor_unit, timestamp, {column}) VALUES (?, ?, ?, ?)",
                [(EXPERIMENT, unit, stamp(t), value) for t in times],
            )
        rows += 5 * len(times)
    db.commit()
    db.close()
    return rows


# ---------------------------------------------------------------------------- helpers
def login_cookie(url: str) -> tuple[str, str]:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    req = urllib.request.Request(
        url + "/api/login",
        json.dumps({"password": PASSWORD}).encode(),
        {"Content-Type": "application/json"},
        method="POST",
    )
    csrf = json.loads(opener.open(req).read())["csrf"]
    cookie = next(c for c in jar if c.name == "pio_session")
    return f"{cookie.name}={cookie.value}", csrf


def api_get(url: str, path: str, cookie: str) -> tuple[dict, int]:
    req = urllib.request.Request(url + path, headers={"Cookie": cookie, "Accept-Encoding": "gzip"})
    with urllib.request.urlopen(req) as r:
        raw = r.read()
        body = __import__("gzip").decompress(raw) if r.headers.get("Content-Encoding") == "gzip" else raw
        return json.loads(body), len(raw)


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Publisher:
    """16 units publishing OD, growth, temperature and RPM once a second (spread over the second)."""

    def __init__(self, port: int):
        from pioreactor_kernel.mqtt import BrokerAddress, MQTTClient

        self.client = MQTTClient(address=BrokerAddress(host="127.0.0.1", port=port)).connect()
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        tick = time.time()
        while not self.stop.is_set():
            for i, unit in enumerate(UNITS):
                target = tick + i / len(UNITS)
                delay = target - time.time()
                if delay > 0 and self.stop.wait(delay):
                    return
                now = time.time()
                ts = stamp(now)
                base = f"pioreactor/{unit}/{EXPERIMENT}"
                od = 1.0 + 0.05 * math.sin(now / 60 + i)
                self.client.publish(
                    f"{base}/od_reading/ods",
                    json.dumps(
                        {
                            "timestamp": ts,
                            "ods": {
                                "2": {
                                    "timestamp": ts,
                                    "angle": "90",
                                    "od": od,
                                    "channel": "2",
                                    "ir_led_intensity": 50,
                                    "calibrated": 0,
                                }
                            },
                        }
                    ),
                )
                self.client.publish(
                    f"{base}/growth_rate_calculating/growth_rate",
                    json.dumps({"growth_rate": 0.3, "timestamp": ts}),
                )
                self.client.publish(
                    f"{base}/growth_rate_calculating/od_filtered",
                    json.dumps({"od_filtered": od / 0.05, "timestamp": ts}),
                )
                self.client.publish(
                    f"{base}/temperature_automation/temperature",
                    json.dumps({"temperature": 37.0, "timestamp": ts}),
                )
                self.client.publish(
                    f"{base}/stirring/measured_rpm", json.dumps({"measured_rpm": 500, "timestamp": ts})
                )
                self.sent += 5
            tick += 1.0

    def __enter__(self) -> Publisher:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(5)
        self.client.disconnect()


# Everything the overview measurement needs runs in the page from its first line (an init script), so
# the harness evaluates nothing in the page while it loads (Playwright's injected script would add its
# own long task). All charts are drawn when each one holds its lines and uPlot's draw hook has run with
# them (or it says "empty"/"error"); the time is taken after the frame that shows them is painted.
OVERVIEW_INIT = """
window.__longtasks = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) window.__longtasks.push([e.startTime, e.duration]);
}).observe({ type: "longtask", buffered: true });
localStorage.setItem("pio.window", "7d");
(() => {
  const drawn = () => {
    const cards = [...document.querySelectorAll("[data-chart]")];
    if (cards.length < %(charts)d) return false;
    return cards.every((card) => {
      const status = card.dataset.status;
      if (status === "loading") return false;
      const chart = card.querySelector(".chart-box").__chart;
      return status !== "ok" || (chart && chart.drawnAt);
    });
  };
  const frame = () => {
    if (!drawn()) { requestAnimationFrame(frame); return; }
    setTimeout(() => { // after this frame's paint
      window.__drawn = performance.now();
      console.debug("pio-bench-drawn");
    });
  };
  requestAnimationFrame(frame);
})();
"""
ALL_DRAWN_TEMPLATE = """() => {
  const charts = [...document.querySelectorAll('[data-chart]')];
  if (charts.length < %d || charts.some((c) => c.dataset.status === 'loading')) return false;
  return performance.now();
}"""
CHARTS = 6  # OD, filtered OD, growth rate, temperature, RPM, volume
ALL_DRAWN = ALL_DRAWN_TEMPLATE % CHARTS


def chromium_cpu_s() -> float:
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if b"chromium" not in (stat.parent / "cmdline").read_bytes():
                continue
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def settle(quiet: float = 0.05, longest_s: float = 5.0) -> None:
    """Wait until Chromium's processes use less than ``quiet`` of a core (at most ``longest_s``)."""
    deadline = time.monotonic() + longest_s
    last = chromium_cpu_s()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = chromium_cpu_s()
        if now - last < quiet * 0.25:
            return
        last = now


def overview_load(browser, url: str, cookie: str, label: str) -> dict:
    """One navigation to the overview in a fresh browser context (no cache, cold JavaScript)."""
    name, value = cookie.split("=", 1)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": name, "value": value, "url": url}])
    context.add_init_script(OVERVIEW_INIT % {"charts": CHARTS})
    page = context.new_page()
    settle()  # a new browser window's own start-up work is not the page's
    with page.expect_console_message(lambda m: m.text == "pio-bench-drawn", timeout=120_000):
        page.goto(url + "/#/overview", wait_until="commit")
    page.wait_for_timeout(300)
    stats = page.evaluate("""() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const res = performance.getEntriesByType('resource');
      const hist = res.filter((r) => r.name.includes('/api/history'));
      const script = res.find((r) => r.name.includes('/assets/app-') && r.name.endsWith('.js'));
      const server = (r) => [(r.serverTiming.find((t) => t.name === 'history') || {}).duration,
                             (r.serverTiming.find((t) => t.name === 'cpu') || {}).duration];
      return { drawn: window.__drawn, bytes: nav.transferSize + res.reduce((s, r) => s + r.transferSize, 0),
               long: window.__longtasks.filter(([t]) => t <= window.__drawn),
               html_ms: nav.responseEnd, script_ms: script ? script.responseEnd : null,
               history: hist.map((r) => [r.startTime, r.responseEnd, server(r)]),
               first_chart_ms: Math.min(...[...document.querySelectorAll('[data-chart] .chart-box')]
                 .map((b) => (b.__chart && b.__chart.drawnAt) || Infinity)),
               statuses: [...document.querySelectorAll('[data-chart]')].map((c) => c.dataset.chart + ':' + c.dataset.status) };
    }""")
    long = [d for _, d in stats["long"]]
    shots = ROOT / "artifacts" / "ui"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "bench-overview-7d-16-units.png"), full_page=True)
    hist = stats["history"]
    result = {
        "label": label,
        "drawn_ms": round(stats["drawn"]),
        "bytes": stats["bytes"],
        "history_requests": len(hist),
        "html_ms": round(stats["html_ms"]),
        "script_ms": round(stats["script_ms"] or 0),
        "history_sent_ms": round(min(h[0] for h in hist)) if hist else None,
        "history_answered_ms": round(max(h[1] for h in hist)) if hist else None,
        "history_server_ms": round(sum(h[2][0] or 0 for h in hist)) if hist else None,
        "history_server_cpu_ms": round(sum(h[2][1] or 0 for h in hist)) if hist else None,
        "first_chart_ms": round(stats["first_chart_ms"]) if stats["first_chart_ms"] != float("inf") else None,
        "long_tasks_over_50ms": len(long),
        "longest_task_ms": round(max(long, default=0)),
        "tasks_over_100ms": sum(1 for d in long if d > 100),
        "statuses": stats["statuses"],
    }
    context.close()
    return result


def live_memory(browser, url: str, cookie: str, port: int, seconds: float) -> dict:
    name, value = cookie.split("=", 1)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_cookies([{"name": name, "value": value, "url": url}])
    context.add_init_script("localStorage.setItem('pio.window', '1h');")
    page = context.new_page()
    page.goto(url + "/#/overview")
    page.wait_for_function(ALL_DRAWN, timeout=60_000)
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def heap_mb() -> float:
        """The smaller of two readings after a full GC, a moment apart (one may catch a batch being handled)."""
        readings = []
        for _ in range(2):
            cdp.send("HeapProfiler.collectGarbage")
            readings.append(cdp.send("Runtime.getHeapUsage")["usedSize"] / 1e6)
            page.wait_for_timeout(300)
        return min(readings)

    def task_s() -> float:
        return next(
            m["value"] for m in cdp.send("Performance.getMetrics")["metrics"] if m["name"] == "TaskDuration"
        )

    samples = []
    with Publisher(port) as pub:
        page.wait_for_timeout(5000)
        t_start, task_start = time.monotonic(), task_s()
        while time.monotonic() - t_start < seconds:
            samples.append((round(time.monotonic() - t_start), round(heap_mb(), 2)))
            page.wait_for_timeout(min(15_000, max(1000, (seconds - (time.monotonic() - t_start)) * 1000)))
        live_cpu = (task_s() - task_start) / (time.monotonic() - t_start)
        samples.append((round(time.monotonic() - t_start), round(heap_mb(), 2)))
        sent = pub.sent
    page.wait_for_timeout(3000)
    t_idle, task_idle = time.monotonic(), task_s()
    page.wait_for_timeout(20_000)
    idle_cpu = (task_s() - task_idle) / (time.monotonic() - t_idle)
    context.close()

    def slope_of(points: list[tuple[float, float]]) -> float:
        """MB per second: the median of the slopes between every two samples (Theil-Sen; a stray reading
        does not tilt it)."""
        pairs = sorted(
            (y2 - y1) / (x2 - x1)
            for i, (x1, y1) in enumerate(points)
            for x2, y2 in points[i + 1 :]
            if x2 > x1
        )
        return pairs[len(pairs) // 2] if pairs else 0.0

    slope = slope_of(samples)
    late = slope_of([p for p in samples if p[0] >= seconds / 2] or samples)
    return {
        "seconds": seconds,
        "messages": sent,
        "heap_mb": samples,
        "heap_slope_kb_per_min": round(slope * 60 * 1000, 1),
        "heap_slope_second_half_kb_per_min": round(late * 60 * 1000, 1),
        "page_cpu_live_pct": round(100 * live_cpu, 2),
        "page_cpu_idle_pct": round(100 * idle_cpu, 2),
    }


def _clients_process(url: str, cookie: str, n: int, ready: Any, go: Any, stop: Any, out: Any) -> None:
    """``n`` Socket.IO clients in one process: (client latency, server part) of every OD event."""
    import socketio

    latencies: list[tuple[float, float]] = []
    lock = threading.Lock()
    sios = []
    for _ in range(n):
        sio = socketio.Client(reconnection=False)

        @sio.on("batch")
        def on_batch(batch: dict) -> None:
            now = time.time()
            if not go.is_set():
                return
            got = [
                (now - ev[3], batch["now"] - ev[3]) for ev in batch["ev"] if ev[0] == "pt" and ev[1] == "od"
            ]
            with lock:
                latencies.extend(got)

        sio.connect(url, headers={"Cookie": cookie}, transports=["websocket"])
        sio.call("join", {"experiment": EXPERIMENT}, timeout=10)
        sios.append(sio)
    ready.release()
    stop.wait()
    for sio in sios:
        sio.disconnect()
    out.put(latencies)


def fanout(url: str, cookie: str, port: int, ui_pid: int, clients: int, seconds: float) -> dict:
    import multiprocessing as mp

    procs_n = min(4, clients)
    ctx = mp.get_context("fork")
    ready, go, stop, out = ctx.Semaphore(0), ctx.Event(), ctx.Event(), ctx.Queue()
    sizes = [clients // procs_n + (1 if i < clients % procs_n else 0) for i in range(procs_n)]
    procs = [ctx.Process(target=_clients_process, args=(url, cookie, k, ready, go, stop, out)) for k in sizes]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire(timeout=120)
    with Publisher(port) as pub:
        time.sleep(3)
        go.set()
        cpu0, t0 = cpu_s(ui_pid), time.monotonic()
        time.sleep(seconds)
        cpu = (cpu_s(ui_pid) - cpu0) / (time.monotonic() - t0)
        stop.set()
        sent = pub.sent
    pairs = [x for _ in procs for x in out.get(timeout=60)]
    for p in procs:
        p.join(10)
    lat = sorted(a for a, _ in pairs)
    server = sorted(b for _, b in pairs)

    def q(values: list[float], f: float) -> float:
        return round(values[min(len(values) - 1, int(f * len(values)))] * 1000, 1)

    return {
        "clients": clients,
        "client_processes": procs_n,
        "seconds": seconds,
        "messages_published": sent,
        "od_events_received": len(lat),
        "expected_od_events": int(clients * len(UNITS) * seconds),
        "server_cpu_pct": round(100 * cpu, 1),
        "latency_ms_median": q(lat, 0.5) if lat else None,
        "latency_ms_p99": q(lat, 0.99) if lat else None,
        "latency_ms_max": round(lat[-1] * 1000, 1) if lat else None,
        "server_part_ms_median": q(server, 0.5) if server else None,
        "server_part_ms_p99": q(server, 0.99) if server else None,
    }


def print_load(r: dict) -> None:
    print(
        f"   {r['label']:<48} drawn {r['drawn_ms']:>5} ms  {r['bytes'] / 1024:>4.0f} KiB  long tasks "
        f">50 ms: {r['long_tasks_over_50ms']}, >100 ms: {r['tasks_over_100ms']}, longest "
        f"{r['longest_task_ms']:>3} ms | html {r['html_ms']} ms, script {r['script_ms']} ms, history "
        f"sent {r['history_sent_ms']} answered {r['history_answered_ms']} (server "
        f"{r['history_server_ms']} ms, of which CPU {r['history_server_cpu_ms']} ms), first chart {r['first_chart_ms']} ms"
    )


def overview_part(
    browser,
    url: str,
    cookie: str,
    end: float,
    spikes: dict[str, float],
    n: int,
    results: dict,
    restart: Any,
) -> None:
    print(
        f"==> 1. overview, 7-day window, 1400 px wide browser, {CHARTS} charts; a fresh browser context "
        "per load (no cache, cold JavaScript)"
    )
    loads = [overview_load(browser, url, cookie, "first after server start (rollups being built)")]
    loads += [overview_load(browser, url, cookie, f"warm {i + 1}") for i in range(n)]
    for r in loads:
        print_load(r)
    bad = [r["label"] for r in loads if any(not s.endswith(":ok") for s in r["statuses"])]
    if bad:
        print(f"!! charts without lines in {bad}: those times do not count")
    warm = [r for r in loads[1:] if r["label"] not in bad]
    results["overview"] = loads
    results["overview_warm"] = summary = {
        k: spread([r[k] for r in warm if r[k] is not None])
        for k in (
            "drawn_ms",
            "bytes",
            "longest_task_ms",
            "tasks_over_100ms",
            "history_server_ms",
            "history_server_cpu_ms",
        )
    }
    results["load_average_overview"] = round(os.getloadavg()[0], 2)
    print(
        f"   warm, median [min-max] of {len(warm)}: drawn {summary['drawn_ms']} ms, transferred "
        f"{summary['bytes']} B, longest task {summary['longest_task_ms']} ms, tasks > 100 ms "
        f"{summary['tasks_over_100ms']}, history on the server {summary['history_server_ms']} ms "
        f"(CPU {summary['history_server_cpu_ms']} ms); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    od, raw = api_get(
        url, f"/api/history/od?experiment={EXPERIMENT}&start={end - DAYS * 86400}&end={end}&width=700", cookie
    )
    kept = sum(
        1 for u, v in spikes.items() if max(x for x in od["data"][f"{u}:2"]["max"] if x is not None) == v
    )
    print(
        f"   extremes kept: {kept}/{len(spikes)} one-sample OD spikes visible in the 7-day OD "
        f"({od['n']} buckets of {od['bucket_s']} s, {raw / 1024:.0f} KiB gzip)"
    )
    results["spikes_kept"] = f"{kept}/{len(spikes)}"
    cookie, saved = restart()
    print(f"   server restarted over the same data dir; saved rollups: {saved}")
    again = overview_load(browser, url, cookie, "first after server restart (rollups from cache)")
    print_load(again)
    if any(not s.endswith(":ok") for s in again["statuses"]):
        print(f"!! charts without lines after the restart: {again['statuses']}")
    results["overview_after_restart"] = again


def spread(values: list[float]) -> str:
    ordered = sorted(values)
    if not ordered:
        return "-"
    mid = (
        ordered[len(ordered) // 2]
        if len(ordered) % 2
        else (ordered[len(ordered) // 2 - 1] + ordered[len(ordered) // 2]) / 2
    )
    return f"{mid:g} [{ordered[0]:g}-{ordered[-1]:g}]"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--live-s", type=float, default=120)
    parser.add_argument("--fanout-s", type=float, default=60)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--loads", type=int, default=7, help="warm overview loads (after the first)")
    parser.add_argument(
        "--only",
        choices=["overview", "live", "fanout"],
        action="append",
        help="run only these parts (repeatable); default all",
    )
    args = parser.parse_args()
    parts = set(args.only or ["overview", "live", "fanout"])
    from playwright.sync_api import sync_playwright

    from pioreactor_kernel.broker import Broker, free_port

    DATA.mkdir(parents=True, exist_ok=True)
    data_dir = DATA / "leader"
    data_dir.mkdir(exist_ok=True)
    end = time.time()
    print(f"==> data: {DAYS} days x {len(UNITS)} units of {STEP_S} s readings in {data_dir}")
    t0 = time.perf_counter()
    spikes = make_database(data_dir, end)
    print(f"   ready in {time.perf_counter() - t0:.0f} s")
    if "live" in parts:
        print(f"   the last hour filled for the live page: {fill_last_hour(data_dir, time.time()):,} rows")
    broker = Broker(DATA / "broker", port=free_port()).start()
    port = free_port()
    env = {
        **os.environ,
        "PIO_DATA_DIR": str(data_dir),
        "PIO_UNIT": "leader",
        "PIO_EXPERIMENT": EXPERIMENT,
        "PIO__mqtt__port": str(broker.port),
        "PIO__mqtt__host": "127.0.0.1",
        "PIO__ui__password": PASSWORD,
    }
    cache = data_dir / "cache" / "ui-history"
    for old in cache.glob("*.npz") if "overview" in parts else ():
        old.unlink()  # the first load after the start measures the build from the database

    def start_ui() -> subprocess.Popen:
        command = ["run", "ui", "--port", str(port), "--host", "127.0.0.1"]
        proc = subprocess.Popen(
            [sys.executable, "-m", "pioreactor_kernel", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(url + "/api/session", timeout=2)
                return proc
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise SystemExit("the UI server did not start") from None
                time.sleep(0.2)

    def restart() -> tuple[str, str]:
        nonlocal ui
        ui.terminate()
        ui.wait(15)
        files = sorted(cache.glob("*.npz"))
        saved = f"{len(files)} files, {sum(f.stat().st_size for f in files) / 2**20:.1f} MiB"
        ui = start_ui()
        return login_cookie(url)[0], saved

    url = f"http://127.0.0.1:{port}"
    results: dict = {}
    ui = start_ui()
    try:
        cookie, _ = login_cookie(url)
        print(f"==> machine load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            if "overview" in parts:
                overview_part(browser, url, cookie, end, spikes, args.loads, results, restart)
                cookie, _ = login_cookie(url)
            if "live" in parts:
                print(
                    f"==> 2. live: 16 units x 5 readings/s into an open overview (1 h window) for {args.live_s:g} s"
                )
                m = live_memory(browser, url, cookie, broker.port, args.live_s)
                results["live"] = m
                print(f"   JS heap after GC (s, MB): {m['heap_mb']}")
                print(
                    f"   heap slope {m['heap_slope_kb_per_min']} kB/min (second half "
                    f"{m['heap_slope_second_half_kb_per_min']} kB/min); page main thread {m['page_cpu_live_pct']} % "
                    f"of a core live, {m['page_cpu_idle_pct']} % idle; load average {os.getloadavg()[0]:.1f}"
                )
            browser.close()
        if "fanout" in parts:
            print(f"==> 3. fan-out: 16 units/s to {args.clients} Socket.IO clients for {args.fanout_s:g} s")
            f = fanout(url, cookie, broker.port, ui.pid, args.clients, args.fanout_s)
            results["fanout"] = f
            print(
                f"   server CPU {f['server_cpu_pct']} % of a core; MQTT -> client latency median "
                f"{f['latency_ms_median']} ms, p99 {f['latency_ms_p99']} ms, max {f['latency_ms_max']} ms; "
                f"{f['od_events_received']:,} of {f['expected_od_events']:,} OD events received"
            )
            print(
                f"   of which MQTT -> server emit (batching every 100 ms): median {f['server_part_ms_median']} ms, "
                f"p99 {f['server_part_ms_p99']} ms"
            )
        results["load_average_end"] = round(os.getloadavg()[0], 2)
        print(f"==> machine load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    finally:
        ui.terminate()
        ui.wait(15)
        broker.stop()
    (DATA / "results.json").write_text(json.dumps(results, indent=1))
    print(f"==> figures also in {DATA / 'results.json'}")


if __name__ == "__main__":
    main()
