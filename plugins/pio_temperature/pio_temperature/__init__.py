"""pio-temperature: the vial's temperature readings, the thermostat, and heater safety."""

__version__ = "0.1.0"
