"""The fail-safe of every output: leases renewed by the owner, a per-unit watchdog that acts on them."""

from __future__ import annotations

import os
import signal
import sqlite3

import pytest

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware import watchdog
from pioreactor_kernel.hardware.leases import ON, REVOKED, LeaseStore
from pioreactor_kernel.hardware.ownership import pid_alive
from pioreactor_kernel.hardware.testing import output_owner, wait_for, write_config

FAILSAFE_S = 2.0


def test_an_output_above_zero_holds_a_lease_and_is_watched(hw_unit):
    with hardware.open_pwm("heater", owner="thermostat") as heater:
        heater.set_duty(20)
        assert watchdog.watchdog_pid(hw_unit.directory) is not None  # started before the output went on
        (lease,) = LeaseStore(hw_unit.directory).leases()
        assert (lease.channel, lease.role, lease.state, lease.value, lease.owner) == ("5", "heater", ON, 20, "thermostat")
        heater.set_duty(0)
        assert LeaseStore(hw_unit.directory).leases() == []
        heater.set_duty(30)
    assert LeaseStore(hw_unit.directory).leases() == []  # closing switches off and drops the lease
    assert hw_unit.output("pwm", "5") == 0.0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill-9", "sigstop"])
@pytest.mark.parametrize(("kind", "role", "channel"), [("pwm", "waste", "4"), ("led", "ir", "A")])
def test_output_is_off_within_2s_after_its_owner_dies_or_hangs(hw_unit, kind, role, channel, sig):
    with output_owner(kind, role, 75) as owner:
        assert hw_unit.output(kind, channel) == 75
        owner.send_signal(sig)
        wait_for(lambda: hw_unit.output(kind, channel) == 0.0, FAILSAFE_S, 0.01, f"{role} off after {sig.name}")
        lease = LeaseStore(hw_unit.directory).get(f"{kind}-{channel}")
        # a dead owner's lease is forgotten; a hung owner's is marked revoked for it to see on waking
        assert lease is None if sig == signal.SIGKILL else lease.state == REVOKED


def test_a_hung_owner_finds_its_output_revoked_and_can_set_it_again(hw_unit):
    with hardware.open_led("ir") as ir:
        ir.set_intensity(40)
        conn = sqlite3.connect(hw_unit.directory / "run" / "hardware" / "leases.sqlite")
        with conn:  # as if this process had hung past its lease: expired leases cannot be renewed
            conn.execute("UPDATE lease SET deadline = 0")
        conn.close()
        wait_for(lambda: ir.revoked, FAILSAFE_S, what="the keeper reports the revocation")
        assert hw_unit.output("led", "A") == 0.0 and ir.intensity_percent == 0.0
        ir.set_intensity(40)
        assert not ir.revoked and hw_unit.output("led", "A") == 40


def test_a_hung_owner_of_an_exclusive_channel_is_ended_then_switched_off(hw_unit):
    write_config(hw_unit.directory, {"fakehw": {"exclusive": "pwm"}})
    with output_owner("pwm", "heater", 50) as owner:
        owner.send_signal(signal.SIGSTOP)
        wait_for(lambda: hw_unit.output("pwm", "5") == 0.0, FAILSAFE_S, 0.01, "heater off")
        assert owner.wait(5) == -signal.SIGKILL


def test_one_watchdog_per_unit(hw_unit):
    watchdog.ensure_running(hw_unit.directory)
    first = watchdog.watchdog_pid(hw_unit.directory)
    watchdog._spawn(hw_unit.directory)  # a racing second start exits at once
    watchdog.ensure_running(hw_unit.directory)
    assert watchdog.watchdog_pid(hw_unit.directory) == first


def test_a_killed_watchdog_is_restarted_by_the_owners_keeper(hw_unit):
    with output_owner("pwm", "media", 100) as owner:
        first = watchdog.watchdog_pid(hw_unit.directory)
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: (watchdog.watchdog_pid(hw_unit.directory) or first) != first, 10, what="a new watchdog")
        owner.kill()
        wait_for(lambda: hw_unit.output("pwm", "2") == 0.0, FAILSAFE_S, 0.01, "media off")


def test_the_watchdog_exits_when_idle(hw_unit):
    write_config(hw_unit.directory, {"hardware": {"watchdog_idle_exit_s": "0.3"}})
    with hardware.open_pwm("heater") as heater:
        heater.set_duty(10)
        pid = watchdog.watchdog_pid(hw_unit.directory)
        heater.set_duty(0)
    wait_for(lambda: not watchdog.is_running(hw_unit.directory), 10, what="the idle watchdog exits")
    wait_for(lambda: not pid_alive(pid), 10, what="the watchdog process is gone")
