"""The pio-led plugin: registrations only (LED code is imported when used)."""

from __future__ import annotations

from typing import Any

from pioreactor_kernel.plugins import hookimpl


@hookimpl
def register_jobs(register: Any) -> None:
    register("led_intensity", "pio_led.action:led_intensity", kind="action",
             help="Set LED channels A-D (0-100 %), e.g. --B 50; they stay lit")
    register("leds", "pio_led.owner:LEDOwner", help="Hold lit LED channels (started on demand by led_intensity)")
    register("led_automation", "pio_led.automations:LEDAutomationHost", help="Run a light program (led automations)")


@hookimpl
def register_automations(register: Any) -> None:
    register("led", "silent", "pio_led.automations:Silent", help="Leave the LEDs as they are")
    register("led", "light_dark_cycle", "pio_led.automations:LightDarkCycle",
             help="Lights on for some hours, off for some hours, repeated")


@hookimpl
def config_defaults() -> dict[str, dict[str, str]]:
    return {"leds": {"idle_exit_s": "60"}}  # the owner exits after this long with no LED lit (0: never)
