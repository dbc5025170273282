"""pio-sim: the virtual bioreactor, a coherent stand-in for a unit's hardware.

For tests and teaching, :func:`true_state` returns the hidden truth of a unit's vial.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = "0.1.0"


def true_state(data_dir: Path | None = None) -> dict[str, Any]:
    """The vial's true state now (advanced to this moment): od, volume_ml, temperature_c, rpm,
    alt_media_fraction, actuator values (``pwm``, ``led``), pump totals, the unit's hidden
    constants (``draws``), the momentary ``growth_rate_per_h`` (what the OD shows, d ln OD/dt)
    and ``potential_growth_rate_per_h`` (before the density limit).

    Reads ``data_dir`` (default: this unit's, ``PIO_DATA_DIR``) with its own config, whatever
    backend config selects.
    """
    from .backend import SimBackend

    backend = _backend(data_dir, SimBackend)
    try:
        return backend.true_state()
    finally:
        backend.close()


def reset(data_dir: Path | None = None) -> None:
    """Start a fresh culture in ``data_dir``'s vial (outputs read as off until set again)."""
    from .backend import SimBackend

    backend = _backend(data_dir, SimBackend)
    try:
        backend.store.reset()
    finally:
        backend.close()


def _backend(data_dir: Path | None, cls: Any) -> Any:
    from pioreactor_kernel.hardware.context import load_config
    from pioreactor_kernel.hardware.hwmap import HardwareMap
    from pioreactor_kernel.identity import unit_name
    from pioreactor_kernel.paths import data_dir as default_data_dir

    directory = (data_dir or default_data_dir()).resolve()
    config = load_config(directory)
    return cls(config=config, data_dir=directory, unit=unit_name(config), hardware_map=HardwareMap.from_config(config))
