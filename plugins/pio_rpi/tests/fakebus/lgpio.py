"""A fake ``lgpio`` (the subset pio-rpi uses) on the shared fake bus."""

from _bus import alive, db, record

RISING_EDGE = 1
FALLING_EDGE = 2
BOTH_EDGES = 3


class error(Exception):  # noqa: N801 - lgpio's name
    pass


_handles = {}


def gpiochip_open(chip):
    handle = len(_handles) + 1
    _handles[handle] = chip
    record("lgpio", "gpiochip_open", chip=chip)
    return handle


def gpiochip_close(handle):
    record("lgpio", "gpiochip_close", handle=handle)
    _handles.pop(handle, None)


def _claim(handle, gpio, mode, level=None):
    import os

    conn = db()
    try:
        conn.execute("BEGIN IMMEDIATE")
        row = conn.execute("SELECT pid FROM line WHERE pin=?", (gpio,)).fetchone()
        if row and row[0] not in (None, os.getpid()) and alive(row[0]):
            conn.execute("ROLLBACK")
            record("lgpio", "claim_refused", gpio=gpio, holder=row[0])
            raise error("'GPIO busy'")
        conn.execute("INSERT INTO line (pin, pid, mode, level) VALUES (?,?,?,?) ON CONFLICT(pin) DO UPDATE SET "
                     "pid=excluded.pid, mode=excluded.mode, level=COALESCE(?, level)",
                     (gpio, os.getpid(), mode, level or 0, level))
        conn.execute("COMMIT")
    finally:
        conn.close()


def gpio_claim_output(handle, gpio, level=0, lFlags=0):  # noqa: N803
    record("lgpio", "gpio_claim_output", gpio=gpio, level=level)
    _claim(handle, gpio, "output", level)


def gpio_claim_alert(handle, gpio, eFlags, lFlags=0, notify_handle=None):  # noqa: N803
    record("lgpio", "gpio_claim_alert", gpio=gpio, edge=eFlags)
    _claim(handle, gpio, "alert")


def gpio_free(handle, gpio):
    record("lgpio", "gpio_free", gpio=gpio)
    conn = db()
    conn.execute("UPDATE line SET pid=NULL WHERE pin=?", (gpio,))  # the line keeps its level
    conn.close()


def _check_owner(gpio):
    import os

    conn = db()
    row = conn.execute("SELECT pid FROM line WHERE pin=?", (gpio,)).fetchone()
    conn.close()
    if not row or row[0] != os.getpid():
        raise error("'GPIO not allocated'")


def gpio_write(handle, gpio, level):
    record("lgpio", "gpio_write", gpio=gpio, level=level)
    _check_owner(gpio)
    conn = db()
    conn.execute("UPDATE line SET level=?, pwm_hz=0, pwm_duty=0 WHERE pin=?", (level, gpio))
    conn.close()


def tx_pwm(handle, gpio, pwm_frequency, pwm_duty_cycle, pulse_offset=0, pulse_cycles=0):
    record("lgpio", "tx_pwm", gpio=gpio, hz=pwm_frequency, duty=pwm_duty_cycle)
    _check_owner(gpio)
    conn = db()
    conn.execute("UPDATE line SET pwm_hz=?, pwm_duty=? WHERE pin=?", (pwm_frequency, pwm_duty_cycle, gpio))
    conn.close()
    return 0


class _Callback:
    def __init__(self, gpio):
        self.gpio = gpio

    def tally(self):
        conn = db()
        row = conn.execute("SELECT count FROM edges WHERE pin=?", (self.gpio,)).fetchone()
        conn.close()
        return row[0] if row else 0

    def reset_tally(self):
        pass

    def cancel(self):
        record("lgpio", "callback_cancel", gpio=self.gpio)


def callback(handle, gpio, edge=RISING_EDGE, func=None):
    record("lgpio", "callback", gpio=gpio, edge=edge)
    return _Callback(gpio)
