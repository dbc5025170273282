"""Every topic suffix, event name and config key of pio-dosing, defined once (no imports: loaded by `pio --help`)."""

from __future__ import annotations

from typing import Final

# pumps, by their role in the hardware map; the events they publish; their calibration devices
MEDIA: Final = "media"
ALT_MEDIA: Final = "alt_media"
WASTE: Final = "waste"
PUMPS: Final = (MEDIA, ALT_MEDIA, WASTE)
EVENT_OF_PUMP: Final = {MEDIA: "add_media", ALT_MEDIA: "add_alt_media", WASTE: "remove_waste"}
PUMP_OF_EVENT: Final = {v: k for k, v in EVENT_OF_PUMP.items()}
ADDING_PUMPS: Final = (MEDIA, ALT_MEDIA)


def calibration_device(pump: str) -> str:
    """The calibration store's device name of a pump: ``media_pump``, ``alt_media_pump``, ``waste_pump``."""
    return f"{pump}_pump"


# topics (suffixes under pioreactor/<unit>/<experiment>/)
DOSING_EVENTS: Final = "dosing_events"
BIOREACTOR: Final = "bioreactor"
CURRENT_VOLUME_ML: Final = "current_volume_ml"
ALT_MEDIA_FRACTION: Final = "alt_media_fraction"
MAX_WORKING_VOLUME_ML: Final = "max_working_volume_ml"
OD_READINGS: Final = ("od_reading", "ods")
OD_FILTERED: Final = ("growth_rate_calculating", "od_filtered")
GROWTH_RATE: Final = ("growth_rate_calculating", "growth_rate")

# job names
DOSING_AUTOMATION: Final = "dosing_automation"
KIND: Final = "dosing"

# config
BIOREACTOR_SECTION: Final = "bioreactor"
DOSING_SECTION: Final = "dosing"
AUTOMATION_SECTION: Final = "dosing_automation"
MORBIDOSTAT_SECTION: Final = "dosing_automation.pid_morbidostat"

CONFIG_DEFAULTS: Final = {
    BIOREACTOR_SECTION: {
        "initial_volume_ml": "14",  # the vial's volume when an experiment starts
        "max_working_volume_ml": "14",  # the efflux tube's level: waste pumps the vial down to it
        "max_volume_ml": "20",  # what the vial holds: no dose may take it above this
        "initial_alt_media_fraction": "0",
    },
    DOSING_SECTION: {
        "max_dose_ml": "10",  # a single dose larger than this is refused
        "max_dose_s": "120",  # a single timed dose longer than this is refused
        "pump_duty_percent": "100",  # duty of an uncalibrated pump (a calibration records its own)
        "uncalibrated_ml_per_s": "0.5",  # assumed flow of a pump run without a calibration
        "continuous_report_s": "1",  # a continuous dose publishes its volume this often
    },
    AUTOMATION_SECTION: {
        "max_subdose_ml": "1.0",  # an exchange is done in chunks of at most this much media
        "waste_multiplier": "2.0",  # waste runs this many times the added volume: the tube stops it
        "od_channel": "",  # the photodiode the automations follow; empty: the first non-REF one
        "max_data_age_s": "0",  # older OD/growth data is ignored; 0: 5 x the automation's duration, >= 30 s
        "allow_uncalibrated": "false",  # let automations dose by mL with uncalibrated pumps (nominal flow)
    },
    MORBIDOSTAT_SECTION: {"kp": "0.5", "ki": "0.5", "kd": "0.0"},
}
