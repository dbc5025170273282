"""``pio sim status`` and ``pio sim reset``."""

from __future__ import annotations

import json

import click

from . import reset as reset_vial
from . import true_state

_SUMMARY = (
    ("od", "OD (true biomass)", "{:.4f}"),
    ("growth_rate_per_h", "growth rate (1/h, biological)", "{:.4f}"),
    ("volume_ml", "volume (ml)", "{:.3f}"),
    ("alt_media_fraction", "alt-media fraction", "{:.4f}"),
    ("temperature_c", "temperature (°C)", "{:.3f}"),
    ("rpm", "stirring (RPM)", "{:.1f}"),
    ("media_in_ml", "media pumped in (ml)", "{:.3f}"),
    ("alt_media_in_ml", "alt-media pumped in (ml)", "{:.3f}"),
    ("waste_out_ml", "waste pumped out (ml)", "{:.3f}"),
    ("overflow_ml", "overflowed (ml)", "{:.3f}"),
)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the whole state as JSON")
def status(as_json: bool) -> None:
    """Print the virtual vial's true (hidden) state: what the sensors only estimate."""
    state = true_state()
    if as_json:
        click.echo(json.dumps(state, indent=2, sort_keys=True))
        return
    click.echo(f"unit {state['unit']}  seed {state['seed']}  speed x{state['speed']:g} (heat x{state['heat_speed']:g})")
    for key, label, fmt in _SUMMARY:
        click.echo(f"  {label:<32} {fmt.format(state[key])}")
    outputs = ", ".join(f"PWM {c}: {v:g} %" for c, v in sorted(state["pwm"].items()) if v) or "none"
    leds = ", ".join(f"LED {c}: {v:g} %" for c, v in sorted(state["led"].items()) if v) or "none"
    click.echo(f"  {'outputs on':<32} {outputs}; {leds}")


@click.command()
@click.confirmation_option(prompt="Discard the virtual culture and start a fresh one?")
def reset() -> None:
    """Start a fresh culture in the virtual vial (from config and seed)."""
    reset_vial()
    click.echo("the virtual vial starts afresh")
