"""`pio experiments` and `pio logs` on the leader's database."""

from __future__ import annotations

from datetime import UTC, datetime

from click.testing import CliRunner
from pioreactor_kernel.names import LATEST_EXPERIMENT_TOPIC
from pioreactor_kernel.testing import Recorder

from pio_leader import experiments as ex
from pio_leader import streams
from pio_leader.experiments_cli import experiments
from pio_leader.logs_cli import logs, since_timestamp
from pio_leader.storage import open_leader_database


def run(command, *args):
    result = CliRunner().invoke(command, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_create_switch_assign_note_and_metadata(make_leader, broker):
    make_leader(broker.port)
    recorder = Recorder(broker.port, LATEST_EXPERIMENT_TOPIC)
    try:
        run(experiments, "create", "trial-7", "-d", "E. coli in LB")
        recorder.wait_for_value(LATEST_EXPERIMENT_TOPIC, "trial-7")
        run(experiments, "create", "trial-8", "--no-switch")
        assert ex.current() == "trial-7"
        run(experiments, "switch", "trial-8")
        recorder.wait_for_value(LATEST_EXPERIMENT_TOPIC, "trial-8")
    finally:
        recorder.close()
    run(experiments, "assign", "trial-7", "u1", "u2", "u3")
    run(experiments, "assign", "trial-7", "u2", "--remove")
    run(experiments, "note", "trial-7", "added antifoam", "--unit", "u1")
    run(experiments, "meta", "trial-7", "strain", "MG1655")
    shown = run(experiments, "show", "trial-7")
    assert "u1, u3" in shown and "strain = MG1655" in shown and "added antifoam" in shown
    listed = run(experiments, "list")
    assert listed.index("trial-8") < listed.index("trial-7")  # newest first


def test_creating_an_existing_experiment_says_how_to_switch_to_it(make_leader, broker):
    make_leader(broker.port)
    run(experiments, "create", "dup", "--no-switch")
    result = CliRunner().invoke(experiments, ["create", "dup"])
    assert result.exit_code != 0 and "pio experiments switch dup" in result.output


def test_logs_are_searchable_by_experiment_level_time_unit_and_text(make_leader, broker):
    make_leader(broker.port)
    open_leader_database()
    rows = [("exp1", "u1", "2026-11-24T10:00:00.000000Z", "INFO", "pump started"),
            ("exp1", "u1", "2026-11-24T10:05:00.000000Z", "ERROR", "pump 'media' stalled: 100% duty"),
            ("exp1", "u2", "2026-11-24T10:06:00.000000Z", "ERROR", "heater fault"),
            ("exp2", "u1", "2026-11-24T10:07:00.000000Z", "ERROR", "other experiment")]
    streams.LogRecord.insert_many([{"experiment": e, "pioreactor_unit": u, "timestamp": t, "level": lv, "task": "job",
                                    "source": "app", "message": m, "fingerprint": i}
                                   for i, (e, u, t, lv, m) in enumerate(rows)]).execute()
    out = run(logs, "--experiment", "exp1", "--level", "error")
    assert "stalled" in out and "heater" in out and "started" not in out and "other" not in out
    out = run(logs, "--experiment", "exp1", "--unit", "u1", "--search", "100%")
    assert out.count("\n") == 1 and "stalled" in out
    out = run(logs, "--experiment", "exp1", "--since", "2026-11-24T10:05:30Z")
    assert out.count("\n") == 1 and "heater" in out
    assert run(logs, "--experiment", "exp1", "--search", "%") .count("\n") == 1  # % is literal


def test_since_accepts_durations_and_times():
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert since_timestamp("2h", now) == "2026-11-24T10:00:00.000000Z"
    assert since_timestamp("1d12h", now) == "2026-11-23T00:00:00.000000Z"
    assert since_timestamp("2026-11-24T10:00:00+02:00", now) == "2026-11-24T08:00:00.000000Z"


def test_without_search_options_pio_logs_shows_the_unit_log_file(make_leader, broker):
    leader = make_leader(broker.port)
    (leader.data_dir / "logs").mkdir(parents=True, exist_ok=True)
    (leader.data_dir / "logs" / "pioreactor.log").write_text("first line\nsecond line\n")
    assert run(logs, "-n", "1").strip() == "second line"
