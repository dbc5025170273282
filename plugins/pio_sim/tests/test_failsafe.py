"""Every output kind is off within 2 s after its owner is killed (-9) or hangs (SIGSTOP)."""

from __future__ import annotations

import signal

import pio_sim
import pytest

from pioreactor_kernel import hardware
from pioreactor_kernel.hardware.testing import output_owner, wait_for

FAILSAFE_S = 2.0  # the spec; the watchdog acts in about lease_s (1 s) + one poll
OUTPUTS = [("pwm", "heater", "5", 25.0), ("pwm", "media", "2", 100.0), ("pwm", "stirring", "1", 60.0),
           ("led", "ir", "A", 50.0)]


def actuator(kind: str, channel: str) -> float:
    return pio_sim.true_state()[kind][channel]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill-9", "sigstop"])
@pytest.mark.parametrize(("kind", "role", "channel", "value"), OUTPUTS, ids=[o[1] for o in OUTPUTS])
def test_output_is_off_within_2s_after_its_owner_dies_or_hangs(unit, kind, role, channel, value, sig):
    with output_owner(kind, role, value) as owner:
        assert actuator(kind, channel) == value
        owner.send_signal(sig)
        wait_for(lambda: actuator(kind, channel) == 0.0, timeout_s=FAILSAFE_S, interval_s=0.01,
                 what=f"{role} off after {sig.name}")


def test_a_killed_owner_frees_its_channel_at_once(unit):
    with output_owner("pwm", "heater", 30.0) as owner:
        with pytest.raises(hardware.ChannelBusy, match=rf"pid {owner.pid} \(owner-under-test\)"):
            hardware.open_pwm("heater", owner="next")
        owner.kill()
        owner.wait(10)
        with hardware.open_pwm("heater", owner="next") as heater:  # no purge by hand
            heater.set_duty(10)
            assert actuator("pwm", "5") == 10.0


def test_a_live_owner_keeps_its_output_on(unit):
    with hardware.open_pwm("heater", owner="t") as heater:
        heater.set_duty(40)
        lease_s = 1.0
        for _ in range(3):  # three lease periods: the keeper renews, the watchdog leaves it be
            with pytest.raises(AssertionError):
                wait_for(lambda: actuator("pwm", "5") != 40.0, timeout_s=lease_s)
        assert not heater.revoked
