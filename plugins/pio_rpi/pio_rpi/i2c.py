"""Register-level drivers for the HAT's I2C chips, over Blinka's ``busio.I2C``."""

from __future__ import annotations

import threading
import time
from typing import Any

_bus_lock = threading.Lock()


def open_i2c() -> Any:
    from .backend import require

    board, busio = require("board"), require("busio")
    return busio.I2C(board.SCL, board.SDA)


def transfer(bus: Any, address: int, out: bytes, read_n: int = 0) -> bytes:
    """Write ``out`` to ``address`` and, with ``read_n``, read that many bytes back (repeated start)."""
    with _bus_lock:
        deadline = time.monotonic() + 1.0
        while not bus.try_lock():
            if time.monotonic() > deadline:
                raise TimeoutError(f"the I2C bus stayed locked for 1 s (device 0x{address:02x})")
            time.sleep(0.001)
        try:
            if not read_n:
                bus.writeto(address, out)
                return b""
            buf = bytearray(read_n)
            bus.writeto_then_readfrom(address, out, buf)
            return bytes(buf)
        finally:
            bus.unlock()


class TMP1075:
    """TI TMP1075: temperature register 0x00, 12 bits left-justified, 0.0625 °C per LSB, two's complement."""

    TEMPERATURE_REGISTER = 0x00

    def __init__(self, bus: Any, address: int):
        self.bus, self.address = bus, address

    def read_celsius(self) -> float:
        raw = int.from_bytes(transfer(self.bus, self.address, bytes([self.TEMPERATURE_REGISTER]), 2), "big", signed=True)
        return (raw >> 4) * 0.0625

    def close(self) -> None: ...


class DAC43608:
    """TI DAC43608: 8 outputs, 8-bit codes in bits 11..4 of DACn_DATA (registers 0x08-0x0F).

    Writing 0x0000 to DEVICE_CONFIG (0x01) powers every output up.
    """

    DEVICE_CONFIG = 0x01
    DATA_REGISTER_BASE = 0x08

    def __init__(self, bus: Any, address: int):
        self.bus, self.address = bus, address
        transfer(bus, address, bytes([self.DEVICE_CONFIG, 0x00, 0x00]))

    def set_output(self, output: int, percent: float) -> None:
        if not 0 <= output <= 7:
            raise ValueError(f"DAC43608 output {output} does not exist (0-7)")
        code = round(max(0.0, min(100.0, percent)) / 100.0 * 255)
        word = code << 4
        transfer(self.bus, self.address, bytes([self.DATA_REGISTER_BASE + output, word >> 8, word & 0xFF]))
