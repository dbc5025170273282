"""A fake Blinka ``busio.I2C`` whose devices are registers on the shared fake bus."""

from _bus import db, record


class I2C:
    def __init__(self, scl, sda, frequency=100000):
        record("i2c", "open", scl=scl, sda=sda)
        self._locked = False

    def try_lock(self):
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self):
        self._locked = False

    def writeto(self, address, buffer, *, start=0, end=None):
        data = bytes(buffer[start:end])
        assert self._locked, "I2C used without the lock"
        record("i2c", "write", address=address, data=data.hex())
        if len(data) > 1:
            conn = db()
            conn.execute("INSERT OR REPLACE INTO reg VALUES (?,?,?)", (address, data[0], data[1:]))
            conn.close()

    def writeto_then_readfrom(self, address, out_buffer, in_buffer, **kwargs):
        assert self._locked, "I2C used without the lock"
        register = out_buffer[0]
        conn = db()
        row = conn.execute("SELECT value FROM reg WHERE address=? AND register=?", (address, register)).fetchone()
        conn.close()
        value = bytes(row[0]) if row else bytes(len(in_buffer))
        in_buffer[:] = value[: len(in_buffer)].ljust(len(in_buffer), b"\0")
        record("i2c", "read", address=address, register=register, data=bytes(in_buffer).hex())

    def deinit(self):
        record("i2c", "deinit")
