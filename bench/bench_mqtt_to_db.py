"""Benchmark: MQTT -> database ingest of the leader's `mqtt_to_db` job (SQLite, WAL).

Starts a Mosquitto with the config our kernel generates, runs `pio run mqtt_to_db` as its own
process on a fresh data dir, and publishes OD readings at QoS 1 from separate publisher
processes (a lean raw-socket MQTT publisher with 2,000 messages in flight, so that the
publishers are not what is measured). Prints, for each set-up, messages/s from the first
publish to the last row committed, and rows stored against messages published.

Set-ups: 1 publisher x 100,000; 4 publishers x 25,000; 100,000 messages queued by the broker
while the writer was stopped, drained when it starts (its own pace, including its start-up); a
20,000-message burst to a writer that is stopped (SIGSTOP) during the burst, with our broker
config and, for comparison, with Mosquitto's default per-client queue (1,000 messages).

The rate is the messages published over the time from the publishers' start to the moment the
last message of each publisher is found stored (polled every 10 ms); "lost" counts the rows in
the table at the end against the messages published. The machine is shared and has 2 cores:
``ceiling`` runs the same publishers and broker with the writer's ingest (its MQTT session,
batches and acknowledgements) in front of a database that takes nothing, which shows what the
broker and the publishers allow at that moment. ``--repeat N`` runs the
live set-ups N times and prints the median and the range.

    .venv/bin/python bench/bench_mqtt_to_db.py [--messages 100000] [--only single,four,ceiling] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sqlite3
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from pioreactor_kernel.broker import Broker, free_port
from pioreactor_kernel.retained import mqtt_packet, mqtt_string
from pioreactor_kernel.testing import spawn_pio, unit_env


def od_stamp(unit_index: int, i: int) -> str:
    seconds = i // 1000
    return f"2026-11-24T{10 + seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}.{unit_index:03d}{i % 1000:03d}Z"


def od_payload(unit_index: int, i: int) -> bytes:
    return json.dumps(
        {
            "timestamp": od_stamp(unit_index, i),
            "angle": "90",
            "od": 0.05 + i * 1e-6,
            "channel": "1",
            "ir_led_intensity": 80.0,
            "calibrated": 0,
        }
    ).encode()


def publish(port: int, unit_index: int, count: int, window: int = 2000, batch: int = 200) -> None:
    """Publish ``count`` OD readings of unit<unit_index> at QoS 1 over a raw socket; wait for every PUBACK.

    The packets are built before connecting: a unit's publishing cost is not what is measured.
    """
    topic = mqtt_string(f"pioreactor/unit{unit_index}/bench/od_reading/od1".encode())
    packets = []
    for i in range(count):
        body = topic + struct.pack("!H", i % 65535 + 1) + od_payload(unit_index, i)
        packets.append(mqtt_packet(0x32, body))
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = (
        mqtt_string(b"MQTT") + bytes([4, 0x02]) + struct.pack("!H", 60) + mqtt_string(f"bench-pub-{unit_index}".encode())
    )
    sock.sendall(mqtt_packet(0x10, body))
    assert sock.recv(4)[:2] == b"\x20\x02"
    acked = [0]
    progress = threading.Condition()

    def read_acks() -> None:
        received = 0
        while received < 4 * count:
            data = sock.recv(65536)
            if not data:
                return
            received += len(data)
            with progress:
                acked[0] = received // 4
                progress.notify()

    reader = threading.Thread(target=read_acks, daemon=True)
    reader.start()
    print("ready", flush=True)
    sys.stdin.readline()  # "go"
    for start in range(0, count, batch):
        with progress:
            progress.wait_for(lambda s=start: s - acked[0] < window)
        sock.sendall(b"".join(packets[start : start + batch]))
    reader.join(120)
    sock.sendall(b"\xe0\x00")
    sock.close()


def null_subscriber(port: int, total: int) -> None:
    """The writer's ingest (its MQTT session, batching and acknowledgements) with a database that
    takes nothing: print when ``total`` messages have been acknowledged."""
    import logging
    import threading

    from pio_leader.session import PersistentSession
    from pio_leader.writer import Ingest

    from pioreactor_kernel.mqtt import BrokerAddress

    class NoDatabase:
        received = 0
        done = threading.Event()

        def add_many(self, topic: bytes, payloads: list[bytes]) -> None:
            self.received += len(payloads)

        def flush(self) -> int:
            if self.received >= total:
                self.done.set()
            return 0

        def discard(self) -> None:
            pass

    writer = NoDatabase()
    session = PersistentSession(BrokerAddress("127.0.0.1", port), "bench-null", ["pioreactor/#"])
    ingest = Ingest(writer, session, logging.getLogger("bench"))  # type: ignore[arg-type]
    ingest.start()
    assert ingest.wait_until_running(10)
    print("ready", flush=True)
    writer.done.wait()
    print("done", flush=True)
    ingest.stop()


def run_ceiling(root: Path, publishers: int, total: int) -> dict[str, float]:
    broker = Broker(root / "broker", port=free_port()).start()
    try:
        sub = subprocess.Popen(
            [sys.executable, __file__, "--null-subscriber", str(broker.port), str(total)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert sub.stdout is not None and sub.stdout.readline().strip() == "ready"
        procs = spawn_publishers(broker.port, publishers, total // publishers)
        start = time.perf_counter()
        go(procs)
        assert sub.stdout.readline().strip() == "done"
        done = time.perf_counter()
        for p in [*procs, sub]:
            p.wait(60)
    finally:
        broker.stop()
    return {"seconds": done - start, "rate": total / (done - start)}


def spawn_publishers(port: int, publishers: int, per_publisher: int) -> list[subprocess.Popen[str]]:
    """Publisher processes, connected and with their packets built; ``go(procs)`` starts them."""
    procs = [
        subprocess.Popen(
            [sys.executable, __file__, "--publisher", str(port), str(i + 1), str(per_publisher)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(publishers)
    ]
    for p in procs:
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    return procs


def go(procs: list[subprocess.Popen[str]]) -> None:
    for p in procs:
        assert p.stdin is not None
        p.stdin.write("go\n")
        p.stdin.flush()


class DefaultQueueBroker(Broker):
    """Our broker, but with Mosquitto's default per-client queue of 1,000 messages."""

    def write_config(self) -> Path:
        path = super().write_config()
        path.write_text(path.read_text().replace("max_queued_messages 0", "max_queued_messages 1000"))
        return path


class Leader:
    def __init__(self, root: Path, broker: Broker) -> None:
        self.env = unit_env(root / "leader", broker.port, unit="leader", experiment=None)
        self.db_path = root / "leader" / "storage" / "pioreactor.sqlite"
        self._conn: sqlite3.Connection | None = None
        self.process = spawn_pio("run", "mqtt_to_db", env=self.env)
        self.wait_live()

    def stored(self, unit_index: int, i: int) -> bool:
        """Whether reading ``i`` of unit<unit_index> is stored: a primary-key lookup, cheap to ask often."""
        if self._conn is None:
            self._conn = sqlite3.connect(self.db_path, timeout=30)
        try:
            return (
                self._conn.execute(
                    "SELECT 1 FROM od_readings WHERE experiment = 'bench' AND pioreactor_unit = ? AND timestamp = ? "
                    "AND channel = '1'",
                    (f"unit{unit_index}", od_stamp(unit_index, i)),
                ).fetchone()
                is not None
            )
        except sqlite3.OperationalError:
            return False

    def cpu_s(self) -> float:
        return cpu_seconds(self.process.pid)

    def exact_rows(self) -> int:
        with sqlite3.connect(self.db_path, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM od_readings").fetchone()[0]

    def wait_live(self, timeout_s: float = 30) -> None:
        """Until a probe published now has been stored: the writer's session is subscribed."""
        from pioreactor_kernel.mqtt import BrokerAddress, publish_once

        port = int(self.env["PIO__mqtt__port"])
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.db_path.exists():
                publish_once(
                    "pioreactor/probe/bench/stirring/measured_rpm",
                    json.dumps({"measured_rpm": 1.0, "timestamp": "2026-01-01T00:00:00.000000Z"}),
                    address=BrokerAddress("127.0.0.1", port),
                )
                try:
                    with sqlite3.connect(self.db_path, timeout=30) as conn:
                        if conn.execute("SELECT COUNT(*) FROM stirring_rates").fetchone()[0]:
                            return
                except sqlite3.OperationalError:
                    pass
            time.sleep(0.1)
        raise TimeoutError("mqtt_to_db did not start storing")

    def stop(self) -> None:
        if self._conn is not None:
            self._conn.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(30)


def wait_stored(leader: Leader, publishers: int, per_publisher: int, timeout_s: float) -> float:
    """Time at which every publisher's last reading is stored (each one's messages arrive in order)."""
    deadline = time.perf_counter() + timeout_s
    waiting = set(range(1, publishers + 1))
    while time.perf_counter() < deadline:
        waiting = {p for p in waiting if not leader.stored(p, per_publisher - 1)}
        if not waiting:
            return time.perf_counter()
        time.sleep(0.01)
    return float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_ingest(root: Path, publishers: int, total: int) -> dict[str, float]:
    broker = Broker(root / "broker", port=free_port()).start()
    try:
        leader = Leader(root, broker)
        procs = spawn_publishers(broker.port, publishers, total // publishers)
        assert broker.process is not None
        writer_cpu, broker_cpu = leader.cpu_s(), cpu_seconds(broker.process.pid)
        start = time.perf_counter()
        go(procs)
        done = wait_stored(leader, publishers, total // publishers, timeout_s=120)
        writer_cpu, broker_cpu = leader.cpu_s() - writer_cpu, cpu_seconds(broker.process.pid) - broker_cpu
        for p in procs:
            p.wait(60)
        stored = leader.exact_rows()
        leader.stop()
    finally:
        broker.stop()
    return {
        "seconds": done - start,
        "rate": total / (done - start),
        "stored": stored,
        "published": total,
        "writer_us": writer_cpu / total * 1e6,
        "broker_us": broker_cpu / total * 1e6,
    }


def run_drain(root: Path, total: int) -> dict[str, float]:
    """The writer's own pace: ``total`` messages queued by the broker while it was stopped, then drained."""
    broker = Broker(root / "broker", port=free_port()).start()
    try:
        leader = Leader(root, broker)
        leader.stop()  # the session stays: the broker queues for it
        procs = spawn_publishers(broker.port, 1, total)
        go(procs)
        for p in procs:
            p.wait(120)
        start = time.perf_counter()
        leader.process = spawn_pio("run", "mqtt_to_db", env=leader.env)
        done = wait_stored(leader, 1, total, timeout_s=120)
        stored = leader.exact_rows()
        leader.stop()
    finally:
        broker.stop()
    return {"seconds": done - start, "rate": total / (done - start), "stored": stored, "published": total}


def run_burst(root: Path, broker_class: type[Broker], total: int = 20_000) -> dict[str, float]:
    broker = broker_class(root / "broker", port=free_port()).start()
    try:
        leader = Leader(root, broker)
        leader.process.send_signal(signal.SIGSTOP)  # the slow subscriber: not reading at all
        procs = spawn_publishers(broker.port, 1, total)
        go(procs)
        for p in procs:
            p.wait(120)
        leader.process.send_signal(signal.SIGCONT)
        wait_stored(leader, 1, total, timeout_s=20)
        stored = leader.exact_rows()
        leader.stop()
    finally:
        broker.stop()
    return {"stored": stored, "published": total, "lost": total - stored}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument("--only", default="single,four,ceiling,drain,burst")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each live set-up (median and range)")
    parser.add_argument("--publisher", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--null-subscriber", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.publisher:
        publish(*args.publisher)
        return
    if args.null_subscriber:
        null_subscriber(*args.null_subscriber)
        return
    only = set(args.only.split(","))
    print(
        f"# mqtt_to_db ingest, SQLite WAL, QoS 1, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    for name, publishers in (("single", 1), ("four", 4)):
        for kind in ("writer", "ceiling"):
            if (name if kind == "writer" else "ceiling") not in only:
                continue
            rates = []
            for _ in range(args.repeat):
                with tempfile.TemporaryDirectory() as tmp:
                    load = os.getloadavg()[0]
                    if kind == "ceiling":
                        r = run_ceiling(Path(tmp), publishers, args.messages)
                        print(
                            f"{publishers} publisher(s), {args.messages:,} messages, no database (ceiling): "
                            f"{r['rate']:,.0f} messages/s ({r['seconds']:.2f} s), load {load:.1f}"
                        )
                    else:
                        r = run_ingest(Path(tmp), publishers, args.messages)
                        print(
                            f"{publishers} publisher(s), {r['published']:,} messages: {r['rate']:,.0f} messages/s "
                            f"({r['seconds']:.2f} s), stored {r['stored']:,} rows, lost "
                            f"{r['published'] - r['stored']:,}; CPU per message: writer {r['writer_us']:.1f} us, "
                            f"broker {r['broker_us']:.1f} us; load {load:.1f}"
                        )
                rates.append(r["rate"])
            if len(rates) > 1:
                print(
                    f"  {publishers} publisher(s), {kind}: median {statistics.median(rates):,.0f} messages/s, "
                    f"range {min(rates):,.0f} .. {max(rates):,.0f} ({len(rates)} runs)"
                )
    if "drain" in only:
        with tempfile.TemporaryDirectory() as tmp:
            r = run_drain(Path(tmp), args.messages)
        print(
            f"{r['published']:,} messages queued while the writer was stopped, drained at {r['rate']:,.0f} "
            f"messages/s ({r['seconds']:.2f} s from its start), stored {r['stored']:,}"
        )
    if "burst" in only:
        for label, broker_class in (
            ("our broker config", Broker),
            ("Mosquitto default queue (1,000)", DefaultQueueBroker),
        ):
            with tempfile.TemporaryDirectory() as tmp:
                r = run_burst(Path(tmp), broker_class)
            print(
                f"20,000-message burst to a stopped writer, {label}: stored {r['stored']:,}, lost {r['lost']:,} "
                f"({100 * r['lost'] / r['published']:.0f} %)"
            )


if __name__ == "__main__":
    main()
