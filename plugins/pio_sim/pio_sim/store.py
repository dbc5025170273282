"""The vial's state in SQLite (``storage/sim.sqlite``): every device call is one transaction.

A call opens an immediate (write) transaction, reads the state, advances the physics from
the stored time to now under the actuator values that held meanwhile, applies its own action,
writes the state back and commits. So any number of processes see one culture, with no daemon.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from pioreactor_kernel.sqlite_state import immediate, open_shared

from .physics import Draws, Params, Roles, State, advance

SCHEMA = "CREATE TABLE IF NOT EXISTS vial (id INTEGER PRIMARY KEY CHECK (id = 1), seed TEXT, unit TEXT, draws TEXT, state TEXT)"


def db_path(data_dir: Path) -> Path:
    return data_dir / "storage" / "sim.sqlite"


class SimStore:
    """One connection per process and data dir; thread-safe."""

    def __init__(self, path: Path, params: Params, roles: Roles, unit: str, clock: Callable[[], float] = time.time):
        self.params, self.roles, self.unit, self.clock = params, roles, unit, clock
        self._lock = threading.Lock()
        self.conn = open_shared(path, synchronous="NORMAL", schema=SCHEMA)
        self._draws_cache: tuple[str, Draws] | None = None

    def _row(self) -> tuple[str, Draws, State]:
        """Inside a transaction: the vial, created from config and seed if there is none."""
        row = self.conn.execute("SELECT seed, draws, state FROM vial WHERE id = 1").fetchone()
        if row is None:
            seed = self.params.seed or os.urandom(8).hex()
            draws = Draws.draw(random.Random(f"{seed}:{self.unit}:draws"), self.params)
            state = State.initial(self.clock(), self.params, draws)
            self.conn.execute("INSERT INTO vial VALUES (1, ?, ?, ?, ?)",
                              (seed, self.unit, json.dumps(draws.to_dict()), json.dumps(state.to_dict())))
            return seed, draws, state
        if self._draws_cache is None or self._draws_cache[0] != row[1]:
            self._draws_cache = (row[1], Draws(**json.loads(row[1])))
        return row[0], self._draws_cache[1], State(**json.loads(row[2]))

    @contextmanager
    def step(self, rng: bool = False) -> Iterator[tuple[State, random.Random | None]]:
        """The state advanced to now, to read and change; written back on exit.

        With ``rng``, also a random generator seeded by (seed, call counter): the same calls at
        the same times give the same noise, in whichever process they run.
        """
        with self._lock, immediate(self.conn):
            seed, draws, state = self._row()
            self.seed, self.draws = seed, draws
            advance(state, self.params, draws, self.roles, self.clock())
            generator = None
            if rng:
                generator = random.Random(f"{seed}:{state.rng_counter}")
                state.rng_counter += 1
            yield state, generator
            self.conn.execute("UPDATE vial SET state = ? WHERE id = 1", (json.dumps(state.to_dict()),))

    def reset(self) -> None:
        """Forget the vial: the next call starts a fresh culture (and, without a seed, a fresh unit)."""
        with self._lock:
            self.conn.execute("DELETE FROM vial")

    def snapshot(self) -> dict[str, object]:
        """The true state now, with the unit's hidden constants and the derived rates."""
        from .physics import cardinal_temperature_factor, growth_rate_per_h, realized_growth_rate_per_h

        with self.step() as (state, _):
            out: dict[str, object] = state.to_dict()
            out.update(seed=self.seed, unit=self.unit, draws=self.draws.to_dict(),
                       growth_rate_per_h=realized_growth_rate_per_h(state, self.params),
                       potential_growth_rate_per_h=growth_rate_per_h(state, self.params),
                       temperature_factor=cardinal_temperature_factor(state.temperature_c, self.params),
                       speed=self.params.speed, heat_speed=self.params.heat_speed)
            return out

    def close(self) -> None:
        with self._lock:
            self.conn.close()

