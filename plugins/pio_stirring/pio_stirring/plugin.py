"""The pio-stirring plugin: registrations only (job and calibration code are imported when used)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("stirring", "pio_stirring.job:Stirring", help="Stir at a target RPM (closed loop on the tachometer)")


@hookimpl
def register_commands(cli: Any) -> None:
    cli.add_lazy_command("calibrate stirring", "pio_stirring.calibrate:calibrate_stirring",
                         help="Sweep duty cycles, fit RPM vs duty, store it as the stirring calibration")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    return {"stirring": {
        "target_rpm": "500",
        "tachometer": "true",
        "pulses_per_revolution": "2",
        "control_interval_s": "1",
        "rpm_window_s": "2",
        "publish_interval_s": "5",
        "kp": "0.3",
        "ki_per_s": "0.3",
        "ramp_rpm_per_s": "100",
        "motor_time_constant_s": "1",
        "max_duty_cycle": "100",
        "max_pause_s": "10",
        "uncalibrated_rpm_per_duty": "30",
        "uncalibrated_stall_duty": "10",
    }}
