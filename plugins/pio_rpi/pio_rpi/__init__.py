"""pio-rpi: the Raspberry Pi hardware backend (lgpio, ADS1115, TMP1075, DAC43608)."""

__version__ = "0.1.0"
