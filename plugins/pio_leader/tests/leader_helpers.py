"""Helpers shared by the leader's tests."""

from __future__ import annotations

import json
import uuid

from pioreactor_kernel.testing import wait_for


def publish_all(client, messages, *, retain: bool = False, chunk: int = 500) -> None:
    """Publish ``(topic, payload)`` pairs at QoS 1, waiting for the broker's acknowledgements per chunk."""
    infos = []
    for topic, payload in messages:
        infos.append(client.publish(topic, payload, qos=1, retain=retain))
        if len(infos) >= chunk:
            for info in infos:
                info.wait_for_publish(10)
            infos = []
    for info in infos:
        info.wait_for_publish(10)


def od_message(unit: str, experiment: str, i: int, channel: str = "1") -> tuple[str, str]:
    stamp = f"2026-11-24T10:{i // 60_000_000 % 60:02d}:{i // 1_000_000 % 60:02d}.{i % 1_000_000:06d}Z"
    return (f"pioreactor/{unit}/{experiment}/od_reading/od{channel}",
            json.dumps({"timestamp": stamp, "od": 0.1 + i * 1e-6, "angle": "90", "channel": channel,
                        "ir_led_intensity": 80.0, "calibrated": 0}))


def wait_rows(model, n: int, timeout_s: float = 20.0) -> None:
    wait_for(lambda: model.select().count() >= n, timeout_s, what=f"{n} rows in {model._meta.table_name} "
             f"(have {model.select().count()})")


def new_postgres_database(base_url: str) -> str:
    import psycopg2

    name = f"t_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(base_url + "/postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return f"{base_url}/{name}"
