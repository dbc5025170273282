"""On the Pi backend too, every output is off within 2 s after its owner dies or hangs."""

from __future__ import annotations

import signal

import pytest

from pioreactor_kernel.hardware.testing import output_owner, wait_for

FAILSAFE_S = 2.0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill-9", "sigstop"])
@pytest.mark.parametrize(("role", "pin"), [("heater", 18), ("waste", 12)])
def test_pwm_output_is_low_within_2s_after_its_owner_dies_or_hangs(pi, role, pin, sig):
    with output_owner("pwm", role, 60) as owner:
        assert pi.output_percent(pin) == 60
        owner.send_signal(sig)
        wait_for(lambda: pi.output_percent(pin) == 0, FAILSAFE_S, 0.01, f"{role} low after {sig.name}")
        if sig == signal.SIGSTOP:  # its line was claimed: the watchdog had to end the hung owner
            assert owner.wait(5) == -signal.SIGKILL


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSTOP], ids=["kill-9", "sigstop"])
def test_led_is_off_within_2s_after_its_owner_dies_or_hangs(pi, sig):
    with output_owner("led", "ir", 80) as owner:
        assert pi.dac_code(0) == round(0.8 * 255)
        owner.send_signal(sig)
        wait_for(lambda: pi.dac_code(0) == 0, FAILSAFE_S, 0.01, f"IR LED off after {sig.name}")
        if sig == signal.SIGSTOP:  # the I2C bus is shared: no need to end the owner
            assert owner.poll() is None
