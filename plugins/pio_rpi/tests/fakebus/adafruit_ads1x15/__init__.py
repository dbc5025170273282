"""A fake adafruit_ads1x15 (3.x API): ``ADS1115``, ``AnalogIn``, ``ads1x15.Pin``."""

from _bus import db, record

from . import ads1x15 as ads1x15


class ADS1115:
    def __init__(self, i2c, gain=1, data_rate=None, mode=None, address=0x48):
        self.i2c, self.address, self._gain = i2c, address, gain
        record("ads1115", "init", address=address, gain=gain)

    @property
    def gain(self):
        return self._gain

    @gain.setter
    def gain(self, value):
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
        record("ads1115", "read", address=self.ads.address, pin=self.pin, gain=self.ads.gain, volts=volts)
        return volts
