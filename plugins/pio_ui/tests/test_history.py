"""Server-side downsampling: min/max per bucket keeps every spike, rollups equal the raw data."""

from __future__ import annotations

import math
import random

import pytest

from pio_ui.history import History, bucket_width_s
from pio_ui.names import BUILTIN_SERIES
from pio_ui.testing import insert_temperatures

pytest.importorskip("pio_leader", reason="history needs pio-leader's database")

T0 = 1_790_000_000.0  # a whole minute




def history(store, refresh_s=0.0):
    return History(store, list(BUILTIN_SERIES), refresh_s)


def test_bucket_width_is_the_first_ladder_step_giving_at_most_one_bucket_per_pixel():
    assert bucket_width_s(3600, 600) == 10
    assert bucket_width_s(7 * 86400, 600) == 1800
    assert bucket_width_s(30 * 86400, 10) == 3 * 86400


def test_a_single_sample_spike_survives_every_window_and_width(store):
    rng = random.Random(3)
    spike_t = T0 + 86400 + 1234 * 5
    rows = [(u, T0 + i * 5, 30 + rng.random() * 0.1) for u in ("u1", "u2") for i in range(2 * 17280)]
    rows.append(("u2", spike_t + 2.5, 99.0))
    insert_temperatures(store, rows)
    h = history(store)
    for start, end, width in (
        (T0, T0 + 2 * 86400, 300),
        (T0, T0 + 2 * 86400, 37),
        (spike_t - 1800, spike_t + 1800, 500),
        (spike_t - 100, spike_t + 100, 1000),
    ):
        r = h.query("e", "temperature", start, end, width)
        assert r["n"] <= max(width, 10) + 1
        u1, u2 = r["data"]["u1"], r["data"]["u2"]
        assert max(v for v in u2["max"] if v is not None) == 99.0, (start, end, width, r["bucket_s"])
        assert max(v for v in u1["max"] if v is not None) < 31
        assert min(v for v in u2["min"] if v is not None) >= 30
        i = int((spike_t + 2.5 - r["t0"]) // r["bucket_s"])
        assert u2["max"][i] == 99.0


def test_rollup_buckets_equal_the_raw_minimum_and_maximum(store):
    rng = random.Random(5)
    rows = [("u1", T0 + i * 5 + rng.random(), rng.gauss(37, 1)) for i in range(6 * 720)]
    insert_temperatures(store, rows)
    r = history(store).query("e", "temperature", T0, T0 + 6 * 3600, 100)
    w = r["bucket_s"]
    assert w % 60 == 0
    for b in range(r["n"]):
        inside = [v for _, t, v in rows if r["t0"] + b * w <= t < r["t0"] + (b + 1) * w]
        if inside:
            assert math.isclose(r["data"]["u1"]["min"][b], min(inside), rel_tol=1e-4)
            assert math.isclose(r["data"]["u1"]["max"][b], max(inside), rel_tol=1e-4)
        else:
            assert r["data"]["u1"]["min"][b] is None


def unpack(line, n):
    """The browser's decoder (frontend/src/chart.js unpack), in Python."""
    seq, acc, j, gaps = [None] * (2 * n), 0, 0, {i: k for i, k in line["gaps"]}
    i = 0
    while i < 2 * n and j < len(line["d"]):
        if i in gaps:
            i += gaps[i]
            continue
        acc += line["d"][j]
        j += 1
        seq[i] = acc / 10 ** line["e"] if line["e"] >= 0 else acc * 10 ** -line["e"]
        i += 1
    return {"min": seq[0::2], "max": seq[1::2]}


@pytest.mark.parametrize("span_s, width", [(2 * 86400, 300), (1800, 500)])  # from the rollups; from the rows
def test_packed_lines_hold_the_same_values_as_plain_ones(store, span_s, width):
    rng = random.Random(11)
    rows = [("u1", T0 + i * 5, 30 + rng.random()) for i in range(2 * 17280) if not 9000 < i < 12000]  # a gap
    rows += [("u2", T0 + 3600 + i * 5, rng.gauss(0.002, 0.0005)) for i in range(2000)]  # small values
    rows += [("u2", T0 + 3600 + 2000 * 5 + 2.5, 1e9), ("u1", T0 + 40_002.5, -5e-7)]  # a huge and a tiny spike
    insert_temperatures(store, rows)
    h = history(store)
    for start in (T0, T0 + 3600 + 9000):
        plain = h.query("e", "temperature", start, start + span_s, width)
        packed = h.query("e", "temperature", start, start + span_s, width, packed=True)
        assert plain["data"].keys() == packed["data"].keys() and plain["data"]
        for key, line in plain["data"].items():
            got = unpack(packed["data"][key], packed["n"])
            for a, b in zip(line["min"] + line["max"], got["min"] + got["max"], strict=True):
                assert (a is None and b is None) or math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15), (
                    key,
                    a,
                    b,
                )


def test_rows_stored_after_the_first_query_appear_in_the_next(store):
    insert_temperatures(store, [("u1", T0 + i * 5, 30.0) for i in range(720)])
    h = history(store)
    first = h.query("e", "temperature", T0, T0 + 7200, 120)
    insert_temperatures(
        store, [("u1", T0 + 3600 + i * 5, 40.0) for i in range(720)] + [("u3", T0 + 4000, 20.0)]
    )
    second = h.query("e", "temperature", T0, T0 + 7200, 120, known_units={"u3"})
    assert max(v for v in first["data"]["u1"]["max"] if v is not None) == 30.0
    assert max(v for v in second["data"]["u1"]["max"] if v is not None) == 40.0
    assert "u3" in second["data"]


def test_bad_windows_are_refused_with_a_reason(store):
    h = history(store)
    with pytest.raises(ValueError, match="start < end"):
        h.query("e", "temperature", T0, T0 - 1, 100)
    with pytest.raises(ValueError, match="finite"):
        h.query("e", "temperature", float("nan"), T0, 100)
    with pytest.raises(KeyError):
        h.query("e", "no_such_chart", T0, T0 + 10, 100)
