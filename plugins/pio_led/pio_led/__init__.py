"""pio-led: LED channels A-D, the action ``led_intensity``, the LED owner job ``leds`` and ``led_automation``.

Python API (see docs/led.md)::

    from pio_led import led_intensity
    led_intensity({"B": 50, "C": 0}, source_of_event="my_script")  # -> {"A": 0.0, "B": 50.0, "C": 0.0, "D": 0.0}

Names on the wire, defined once:
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

CHANNELS = ("A", "B", "C", "D")

OWNER_JOB = "leds"  # the long-lived process that holds lit channels
INTENSITY = "intensity"  # .../leds/intensity, retained JSON {"A": 0.0, "B": 50.0, ...}
# two levels deep, so that they are not mistaken for job settings (<job>/<setting>) by recorders
CHANGE_REQUEST = "change/request"  # .../leds/change/request {"request_id", "intensities", "source_of_event"}
CHANGE_RESULT = "change/result"  # .../leds/change/result {"request_id", "ok", "intensities", "error"}
LED_CHANGE_EVENTS = "led_change_events"  # pioreactor/<unit>/<exp>/led_change_events (the dialect's)
AUTOMATION_JOB = "led_automation"


def led_intensity(desired_state: dict[str, float], **kwargs: Any) -> dict[str, float]:
    """Set LED channels (percent); returns every channel's intensity after. See :func:`pio_led.api.led_intensity`."""
    from .api import led_intensity as _led_intensity

    return _led_intensity(desired_state, **kwargs)
