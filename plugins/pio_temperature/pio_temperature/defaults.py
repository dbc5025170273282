"""Config defaults, kept free of imports: every `pio` process reads them."""

from __future__ import annotations

SECTION = "temperature_automation"
THERMOSTAT_SECTION = "temperature_automation.thermostat"

DEFAULTS: dict[str, dict[str, str]] = {
    SECTION: {
        "reading_interval_s": "30",
        "max_temperature_c": "50",
        "max_heater_duty_percent": "100",
        "heater_pause_s": "auto",
        "samples_per_reading": "3",
        "plausible_min_c": "-5",
        "plausible_max_c": "100",
        "max_spread_c": "1.0",
        "max_bad_readings": "3",
        "stuck_readings": "20",
        "stuck_duty_change_percent": "10",
    },
    # tuned on the simulator's vial (time constant 300 s, +30 °C at full duty): IMC, lambda ~ 80 s
    THERMOSTAT_SECTION: {"kp": "12", "ki": "0.04", "kd": "0", "derivative_filter_s": "10"},
}
