"""Every name pio-od puts on the wire or reads from config, defined once."""

from __future__ import annotations

from typing import Final

# jobs and actions
OD_READING: Final = "od_reading"
GROWTH_RATE_CALCULATING: Final = "growth_rate_calculating"
OD_BLANK: Final = "od_blank"

# topic suffixes under pioreactor/<unit>/<experiment>/od_reading/
ODS: Final = "ods"
OUT_OF_RANGE: Final = "out_of_calibrated_range"


def od_suffix(channel: str) -> str:
    """``od2`` for channel ``"2"``: the per-channel topic under ``od_reading``."""
    return f"od{channel}"


# topic suffixes under pioreactor/<unit>/<experiment>/growth_rate_calculating/
GROWTH_RATE: Final = "growth_rate"
GROWTH_RATE_STD: Final = "growth_rate_std"
OD_FILTERED: Final = "od_filtered"

# unit-level topics (pioreactor/<unit>/<experiment>/...)
DOSING_EVENTS: Final = "dosing_events"
CURRENT_VOLUME: Final = ("bioreactor", "current_volume_ml")
BLANK_MEAN: Final = ("od_blank", "mean")
BLANK_STD: Final = ("od_blank", "std")

ADDITIONS: Final = ("add_media", "add_alt_media")
REMOVALS: Final = ("remove_waste",)

# photodiode angles
REF: Final = "REF"
SCATTER_ANGLES: Final = ("45", "90", "135")
TRANSMISSION_ANGLE: Final = "180"


def calibration_device(angle: str) -> str:
    """The calibration store's device for a photodiode angle: ``od90``, ``od180`` (as the Pioreactor names them)."""
    return f"od{angle}"


# config: [od_reading]
OD_SECTION: Final = "od_reading"
OD_DEFAULTS: Final[dict[str, str]] = {
    "interval_s": "5",  # seconds between readings
    "ir_led_intensity": "50",  # percent
    "samples_per_reading": "9",  # ADC conversions per channel with the LED on, averaged robustly
    "dark_samples": "5",  # conversions per channel with the LED off (0: no dark subtraction)
    "led_settle_s": "0.002",  # wait after switching the LED on before sampling
    "subtract_blank": "false",
    "out_of_range": "extrapolate",  # or clamp: calibrated values beyond the standards
    "adc_full_scale_v": "4.096",  # ADC range when the backend cannot change it (saturation check)
    "pause_stirring": "false",  # ask stirring to stop the motor during each reading (docs/stirring.md)
    "stirring_settle_s": "1.0",  # wait after the motor stops before reading
}

# config: [growth_rate_calculating]
GROWTH_SECTION: Final = "growth_rate_calculating"
GROWTH_DEFAULTS: Final[dict[str, str]] = {
    "channels": "auto",  # OD channels that feed the estimator; auto = the scatter channels
    "use_blank": "true",  # subtract the experiment's blank from raw readings
    "time_scale": "1",  # estimator hours per wall-clock hour (a sped-up simulator: its [sim] speed)
    "save_every_s": "30",  # how often the estimator state is written to the data dir
}
BIOREACTOR_SECTION: Final = "bioreactor"  # initial_volume_ml: the vial's volume until current_volume_ml says
DEFAULT_VOLUME_ML: Final = 14.0
ESTIMATOR_SECTION: Final = "growth_rate_calculating.estimator"  # overrides of EstimatorConfig fields
