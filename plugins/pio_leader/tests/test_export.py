"""Export: what is exported reads back equal, in CSV and Parquet, with filters and a manifest."""

from __future__ import annotations

import gc
import io
import json
import shutil
import subprocess
import sys
import threading
import zipfile

import pytest
from click.testing import CliRunner

from pio_leader import streams
from pio_leader.export_cli import export
from pio_leader.storage import open_leader_database


def _fill() -> None:
    rows = []
    for u in ("u1", "u2", "u3"):
        for i in range(500):
            rows.append(
                {
                    "experiment": "exp1",
                    "pioreactor_unit": u,
                    "timestamp": f"2026-11-24T10:{i // 60:02d}:{i % 60:02d}.000001Z",
                    "channel": "2",
                    "od_reading": 0.1 + i / 7,
                    "angle": "90",
                    "ir_led_intensity": None if i % 5 else 80.5,
                    "calibrated": i % 2,
                    "calibration_name": 'cal,"odd"\nname' if i % 2 else None,
                }
            )
    rows.append({**rows[0], "experiment": "other"})
    for start in range(0, len(rows), 200):
        streams.ODReading.insert_many(rows[start : start + 200]).execute()
    streams.GrowthRate.insert_many(
        [
            {
                "experiment": "exp1",
                "pioreactor_unit": "u1",
                "timestamp": f"2026-11-24T11:00:0{i}.000000Z",
                "rate": i * 0.1,
            }
            for i in range(5)
        ]
    ).execute()


def _stored(units=("u1", "u2", "u3"), start="", end="9999"):
    m = streams.ODReading
    q = (
        m.select()
        .where(
            (m.experiment == "exp1")
            & m.pioreactor_unit.in_(list(units))
            & (m.timestamp >= start)
            & (m.timestamp < end)
        )
        .order_by(m.pioreactor_unit, m.timestamp)
    )
    return [
        tuple(
            getattr(r, c)
            for c in (
                "experiment",
                "pioreactor_unit",
                "timestamp",
                "channel",
                "od_reading",
                "angle",
                "ir_led_intensity",
                "calibrated",
                "calibration_name",
            )
        )
        for r in q
    ]


def _read_back(path, fmt):
    import pyarrow as pa
    import pyarrow.csv as csv
    import pyarrow.parquet as pq

    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        tables = {}
        for d in manifest["datasets"]:
            data = zf.read(d["file"])
            if fmt == "parquet":
                tables[d["name"]] = pq.read_table(io.BytesIO(data))
            else:
                types = {c["name"]: getattr(pa, c["type"])() for c in d["columns"]}
                tables[d["name"]] = csv.read_csv(
                    io.BytesIO(data),
                    convert_options=csv.ConvertOptions(
                        column_types=types, strings_can_be_null=True, quoted_strings_can_be_null=False
                    ),
                )
    return manifest, tables


def _assert_valid_zip(path):
    """Every entry's CRC checked by zipfile, and by Info-ZIP's unzip where it is installed."""
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None
    if shutil.which("unzip"):
        result = subprocess.run(["unzip", "-t", str(path)], capture_output=True, text=True)
        assert result.returncode == 0 and "No errors detected" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_what_is_exported_reads_back_equal(make_leader, broker, db_url, tmp_path, fmt):
    make_leader(broker.port, db_url)
    open_leader_database()
    _fill()
    out = tmp_path / f"e.{fmt}.zip"
    result = CliRunner().invoke(
        export,
        ["--experiment", "exp1", "--datasets", "od_readings,growth_rates", "--format", fmt, "-o", str(out)],
    )
    assert result.exit_code == 0, result.output
    _assert_valid_zip(out)
    manifest, tables = _read_back(out, fmt)
    od = manifest["datasets"][0]
    assert (od["name"], od["rows"], od["time_range"]) == (
        "od_readings",
        1500,
        ["2026-11-24T10:00:00.000001Z", "2026-11-24T10:08:19.000001Z"],
    )
    assert {c["name"]: c["unit"] for c in od["columns"]}["od_reading"] == "AU (OD600 when calibrated)"
    assert [tuple(r.values()) for r in tables["od_readings"].to_pylist()] == _stored()
    assert tables["growth_rates"].column("rate").to_pylist() == [i * 0.1 for i in range(5)]


def test_export_filters_by_time_range_and_unit(make_leader, broker, tmp_path):
    make_leader(broker.port)
    open_leader_database()
    _fill()
    out = tmp_path / "f.zip"
    result = CliRunner().invoke(
        export,
        [
            "--experiment",
            "exp1",
            "--datasets",
            "od_readings",
            "--unit",
            "u2",
            "--unit",
            "u3",
            "--start",
            "2026-11-24T10:01:00Z",
            "--end",
            "2026-11-24T10:02:00Z",
            "-o",
            str(out),
        ],
    )
    assert result.exit_code == 0, result.output
    manifest, tables = _read_back(out, "csv")
    expected = _stored(("u2", "u3"), "2026-11-24T10:01:00.000000Z", "2026-11-24T10:02:00.000000Z")
    assert len(expected) == 120 and [tuple(r.values()) for r in tables["od_readings"].to_pylist()] == expected
    assert manifest["filters"]["units"] == ["u2", "u3"]


def test_an_unknown_dataset_is_refused_with_the_list_of_datasets(make_leader, broker, tmp_path):
    make_leader(broker.port)
    result = CliRunner().invoke(
        export, ["--experiment", "exp1", "--datasets", "od_readingz", "-o", str(tmp_path / "x.zip")]
    )
    assert result.exit_code != 0 and "od_readings" in result.output


def test_a_column_empty_in_its_first_rows_and_filled_later_exports_whole(make_leader, broker, tmp_path):
    make_leader(broker.port)
    open_leader_database()
    rows = [
        {
            "experiment": "exp1",
            "pioreactor_unit": "u1",
            "timestamp": f"2026-11-24T10:00:00.{i:06d}Z",
            "channel": "1",
            "od_reading": i / 3,
            "angle": "90",
            "ir_led_intensity": None if i < 17_000 else 1.5,
            "calibrated": 0,
            "calibration_name": None if i < 17_000 else f"cal{i}",
        }
        for i in range(17_100)
    ]
    for start in range(0, len(rows), 2000):
        streams.ODReading.insert_many(rows[start : start + 2000]).execute()
    out = tmp_path / "late.zip"
    result = CliRunner().invoke(export, ["--experiment", "exp1", "--datasets", "od_readings", "-o", str(out)])
    assert result.exit_code == 0, result.output
    _, tables = _read_back(out, "csv")
    assert tables["od_readings"].column("calibration_name").to_pylist() == [
        r["calibration_name"] for r in rows
    ]
    assert tables["od_readings"].column("od_reading").to_pylist() == [r["od_reading"] for r in rows]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_texts_of_every_kind_over_many_batches_and_units_read_back_equal(make_leader, broker, tmp_path, fmt):
    """Empty texts apart from NULLs, texts a CSV must quote, and batches of both kinds (those whose
    texts hold a line break or a carriage return are written another way), over several units."""
    make_leader(broker.port)
    open_leader_database()
    odd = ['a "quoted", name', "line\nbreak", "cr\rhere", "", "NA", None]
    rows = [
        {
            "experiment": "exp1",
            "pioreactor_unit": f"u{k}",
            "timestamp": f"2026-11-24T10:00:{i // 1000:02d}.{i:06d}Z",
            "channel": "NA" if i % 7 == 0 else "2",
            "od_reading": i / 3 + k,
            "angle": "" if i % 3 == 0 else "90",
            "ir_led_intensity": None if i % 5 else 80.5,
            "calibrated": i % 2,
            "calibration_name": odd[i % len(odd)] if (k == 1 and i < 50) else (None if i % 4 else ""),
        }
        for k in range(3)
        for i in range(9000)
    ]
    for start in range(0, len(rows), 2000):
        streams.ODReading.insert_many(rows[start : start + 2000]).execute()
    out = tmp_path / f"many.{fmt}.zip"
    result = CliRunner().invoke(
        export, ["--experiment", "exp1", "--datasets", "od_readings", "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    _assert_valid_zip(out)
    manifest, tables = _read_back(out, fmt)
    assert manifest["datasets"][0]["rows"] == 27_000
    assert [tuple(r.values()) for r in tables["od_readings"].to_pylist()] == [tuple(r.values()) for r in rows]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_notes_with_and_without_a_unit_are_all_exported(make_leader, broker, tmp_path, fmt):
    from pio_leader import experiments

    make_leader(broker.port)
    open_leader_database()
    experiments.create("exp1", "")
    experiments.add_note("exp1", "whole experiment: added antifoam")
    experiments.add_note("exp1", "u2 looks cloudy", unit="u2")
    experiments.add_note("exp1", 'and, "again"')
    out = tmp_path / f"notes.{fmt}.zip"
    result = CliRunner().invoke(
        export, ["--experiment", "exp1", "--datasets", "experiment_notes", "--format", fmt, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    manifest, tables = _read_back(out, fmt)
    got = sorted((r["note"], r["pioreactor_unit"]) for r in tables["experiment_notes"].to_pylist())
    assert got == sorted(
        [("whole experiment: added antifoam", None), ("u2 looks cloudy", "u2"), ('and, "again"', None)]
    )
    assert manifest["datasets"][0]["rows"] == 3


def _export_threads():
    return [t.name for t in threading.enumerate() if t.name.startswith("export-")]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_export_stopped_midway_stops_its_threads_and_the_next_export_is_whole(
    make_leader, broker, tmp_path, monkeypatch, fmt
):
    """Stopped while the database is still being read on its own thread (here by the progress
    callback failing after the first batch): the error reaches the caller, no export thread is
    left, every statement is closed before its connection, and the next export is complete."""
    from pio_leader.export import datasets, export_experiment

    make_leader(broker.port)
    db, table_sets = open_leader_database()
    rows = [
        {
            "experiment": "exp1",
            "pioreactor_unit": "u1",
            "timestamp": f"2026-11-24T10:00:00.{i:06d}Z",
            "channel": "2",
            "od_reading": i / 3,
            "angle": "90",
            "ir_led_intensity": 80.0,
            "calibrated": 0,
            "calibration_name": None,
        }
        for i in range(60_000)  # several batches of the database reader
    ]
    for start in range(0, len(rows), 5000):
        streams.ODReading.insert_many(rows[start : start + 5000]).execute()
    unraisable = []
    monkeypatch.setattr(sys, "unraisablehook", unraisable.append)
    od = datasets(table_sets)["od_readings"]

    def fail(rows_done: int) -> None:
        raise OSError("disk full (simulated)")

    with pytest.raises(OSError, match="disk full"):
        export_experiment(db, [od], "exp1", tmp_path / "stopped.zip", fmt=fmt, progress=fail)
    gc.collect()
    assert _export_threads() == [] and unraisable == []

    manifest = export_experiment(db, [od], "exp1", tmp_path / "whole.zip", fmt=fmt)
    assert manifest["datasets"][0]["rows"] == 60_000
    _, tables = _read_back(tmp_path / "whole.zip", fmt)
    assert tables["od_readings"].column("od_reading").to_pylist() == [r["od_reading"] for r in rows]
    assert _export_threads() == []


def test_a_database_error_while_reading_ahead_reaches_the_reader(tmp_path):
    """The Arrow stream read on its own thread: its error (here ADBC refusing text in a column it
    took for integers from its first batch) is raised in the taking thread, the batches before it
    arrive whole, and the reading thread is gone."""
    import sqlite3

    adbc_driver_manager = pytest.importorskip("adbc_driver_manager")
    adbc_driver_sqlite = pytest.importorskip("adbc_driver_sqlite")
    from pio_leader.export_stream import StreamError, read_ahead, stream_batches

    path = tmp_path / "mixed.sqlite"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE t (a TEXT)")
        conn.executemany("INSERT INTO t VALUES (?)", [(None,)] * 100 + [("text",)] * 10)
    database = adbc_driver_sqlite.connect(str(path))
    connection = adbc_driver_manager.AdbcConnection(database)

    def batches():  # runs on the reading thread, statement and all
        statement = adbc_driver_manager.AdbcStatement(connection)
        try:
            statement.set_options(**{"adbc.sqlite.query.batch_rows": "10"})
            statement.set_sql_query("SELECT a FROM t")
            stream, _ = statement.execute_query()
            try:
                yield from stream_batches(stream.address)
            finally:
                stream.release()
        finally:
            statement.close()

    seen = 0
    taken = read_ahead(batches())
    with pytest.raises(StreamError, match="(?i)type"):
        for batch in taken:
            seen += batch.num_rows
    taken.close()
    assert seen == 100 and _export_threads() == []
    connection.close()  # refused while a statement is open
    database.close()
