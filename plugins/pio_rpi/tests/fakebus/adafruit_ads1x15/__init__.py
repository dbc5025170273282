"""A fake adafruit_ads1x15 (3.x API): ``ADS1115``, ``AnalogIn``, ``ads1x15.Pin``."""

from _bus import db, record

from . import ads1x15 as ads1x15

_PGA_RANGE = {2 / 3: 6.144, 1: 4.096, 2: 2.048, 4: 1.024, 8: 0.512, 16: 0.256}


class ADS1115:
    def __init__(self, i2c, gain=1, data_rate=None, mode=None, address=0x48):
        self.i2c, self.address, self._gain = i2c, address, gain
        record("ads1115", "init", address=address, gain=gain)

    @property
    def gain(self):
        return self._gain

    @gain.setter
    def gain(self, value):
        if value not in _PGA_RANGE:
            raise ValueError(f"Gain must be one of: {sorted(_PGA_RANGE)}")
        record("ads1115", "gain", address=self.address, gain=value)
        self._gain = value


class AnalogIn:
    def __init__(self, ads, positive_pin, negative_pin=None):
        self.ads, self.pin = ads, positive_pin

    @property
    def voltage(self):
        conn = db()
        row = conn.execute("SELECT volts FROM analog WHERE address=? AND pin=?", (self.ads.address, self.pin)).fetchone()
        conn.close()
        volts = row[0] if row else 0.0
        # the chip: signed 16-bit codes over +-full scale of the gain, saturating at the ends
        lsb = _PGA_RANGE[self.ads.gain] / 32768
        code = min(max(round(volts / lsb), -32768), 32767)
        record("ads1115", "read", address=self.ads.address, pin=self.pin, gain=self.ads.gain, volts=volts, code=code)
        return code * lsb
