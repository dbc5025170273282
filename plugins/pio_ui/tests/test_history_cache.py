"""Rollups saved in the data dir: a restarted server resumes them (no aggregate over every row),
and any doubt about the file means the full build, with the same answers."""

from __future__ import annotations

import random

import numpy as np
import pytest
from pioreactor_kernel.testing import wait_for

from pio_ui import rollup_cache
from pio_ui.history import History
from pio_ui.names import BUILTIN_SERIES, Series
from pio_ui.testing import insert_temperatures

pytest.importorskip("pio_leader", reason="history needs pio-leader's database")

T0 = 1_790_000_000.0  # a whole minute
WEEK = (T0, T0 + 3 * 86400, 300)  # minute buckets: from the rollups


class Recording:
    """The store, with every SQL statement it runs written down."""

    def __init__(self, store):
        self.inner, self.sql = store, []

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def rows_each(self, sql, params_list):
        self.sql.append(sql)
        return self.inner.rows_each(sql, params_list)

    def rows(self, sql, params=()):
        return self.rows_each(sql, [params])[0]

    def full_builds(self):
        """The aggregates over every row of the experiment (the others read one unit from a timestamp on)."""
        return [q for q in self.sql if "GROUP BY" in q and "timestamp >= ?" not in q]


def some_rows(seed, units=("u1", "u2"), minutes=2 * 1440, start=T0):
    rng = random.Random(seed)
    return [(u, start + i * 5, 30 + rng.random()) for u in units for i in range(minutes * 12)]


def history(store, tmp_path, series=BUILTIN_SERIES, **kw):
    return History(store, list(series), 0.0, cache_dir=tmp_path / "cache", **kw)


def test_a_restarted_history_resumes_the_saved_rollup_and_picks_up_newer_rows(store, tmp_path):
    insert_temperatures(store, some_rows(1))
    first = Recording(store)
    h1 = history(first, tmp_path)
    before = h1.query("e", "temperature", *WEEK)
    assert len(first.full_builds()) == 1  # the detector sees a full build when there is one
    h1.save()
    assert list((tmp_path / "cache").glob("*.npz"))
    # while "the server is down": newer rows of a known unit, and a new unit
    insert_temperatures(  # in u1's newest minute folded in, after it, and a unit not seen before
        store,
        [("u1", T0 + 2 * 86400 - 2.5, 99.0), ("u1", T0 + 2 * 86400 + 600, 20.0), ("u3", T0 + 86400, 7.0)],
    )

    second = Recording(store)
    h2 = history(second, tmp_path)
    after = h2.query("e", "temperature", *WEEK)
    assert second.full_builds() == [], second.sql
    fresh = history(store, tmp_path / "other").query("e", "temperature", *WEEK)  # built from every row
    assert after == fresh
    assert max(v for v in after["data"]["u1"]["max"] if v is not None) == 99.0
    assert min(v for v in after["data"]["u1"]["min"] if v is not None) == 20.0
    assert "u3" in after["data"] and "u3" not in before["data"]
    assert after["data"]["u2"] == before["data"]["u2"]


def test_the_rollup_is_saved_after_a_build_without_being_asked(store, tmp_path):
    insert_temperatures(store, some_rows(2, minutes=60))
    history(store, tmp_path).query("e", "temperature", *WEEK)
    wait_for(lambda: list((tmp_path / "cache").glob("*temperature*.npz")), 20, 0.05, what="the saved rollup")


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "other_format", "arrays_too_short"])
def test_a_damaged_cache_means_the_full_build_with_the_right_answer(store, tmp_path, damage):
    insert_temperatures(store, some_rows(3))
    h1 = history(store, tmp_path)
    expected = h1.query("e", "temperature", *WEEK)
    h1.save()
    (path,) = (tmp_path / "cache").glob("*temperature*.npz")
    data = path.read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(bytes(random.Random(4).randrange(256) for _ in range(len(data))))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        with np.load(path) as z:
            head, mins, maxs = z["header"], z["mins"], z["maxs"]
        if damage == "other_format":
            head = np.frombuffer(bytes(head).replace(b'"format": 1', b'"format": 99'), dtype=np.uint8)
        else:
            mins = mins[:-1]
        with path.open("wb") as f:
            np.savez(f, header=head, mins=mins, maxs=maxs)
    recording = Recording(store)
    got = history(recording, tmp_path).query("e", "temperature", *WEEK)
    assert len(recording.full_builds()) == 1
    assert got == expected


def test_a_cache_of_another_chart_definition_is_not_used(store, tmp_path):
    insert_temperatures(store, some_rows(5))
    plain = Series(
        "t",
        "T",
        "C",
        "temperature_automation",
        "temperature",
        "temperature",
        "temperature_readings",
        "temperature_c",
    )
    only_u1 = Series(**{**plain.__dict__, "where": {"pioreactor_unit": "u1"}})
    h1 = history(store, tmp_path, [plain])
    h1.query("e", "t", *WEEK)
    h1.save()
    recording = Recording(store)
    got = history(recording, tmp_path, [only_u1]).query("e", "t", *WEEK)  # same name, other SQL
    assert len(recording.full_builds()) == 1
    assert set(got["data"]) == {"u1"}
    assert rollup_cache.fingerprint("a") != rollup_cache.fingerprint("b")


def test_a_cache_whose_units_are_gone_from_the_database_is_not_used(store, tmp_path):
    insert_temperatures(store, some_rows(6))
    h1 = history(store, tmp_path)
    h1.query("e", "temperature", *WEEK)
    h1.save()
    with store.db.connection_context():
        store.db.execute_sql("DELETE FROM temperature_readings WHERE pioreactor_unit = 'u2'")
    recording = Recording(store)
    got = history(recording, tmp_path).query("e", "temperature", *WEEK)
    assert len(recording.full_builds()) == 1
    assert set(got["data"]) == {"u1"}
