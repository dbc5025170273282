"""The growth-rate estimator's running estimates of reading noise (see docs/growth-rate-estimator.md, Noise)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .estimator import EstimatorConfig


class NoiseScale:
    """Running estimates of the reading noise in log OD.

    `innovation_var` (per reading, for gating) follows the gate filter's innovations. `var`
    (for the filters) comes from second differences of 1-minute block means of the
    dilution-corrected log OD, so that noise correlated over a few readings counts at its
    real, low-frequency weight; a per-reading variance would understate it.
    """

    def __init__(self) -> None:
        self.innovation_var = self.var = 0.0
        self.offset = self.block_sum = 0.0
        self.block_n = self.n_blocks = 0
        self.block_means: list[float] = []

    @property
    def filter_var(self) -> float:
        """Noise variance for the filters: never below the per-reading scale."""
        return max(self.var, self.innovation_var)

    def start(self, innovation_var: float, var: float) -> None:
        self.innovation_var, self.var = innovation_var, var

    def shift(self, jump: float) -> None:
        self.offset += jump

    def restart_blocks(self) -> None:
        self.block_sum, self.block_n, self.block_means = 0.0, 0, []

    def learn(self, y: float, innovation: float, cfg: EstimatorConfig) -> None:
        capped = min(innovation * innovation, 9.0 * self.innovation_var)
        self.innovation_var += (capped - self.innovation_var) / 50.0
        self.block_sum += y - self.offset
        self.block_n += 1
        if self.block_n < cfg.noise_block_readings:
            return
        n = self.block_n
        self.block_means = [*self.block_means[-2:], self.block_sum / n]
        self.block_sum, self.block_n = 0.0, 0
        if len(self.block_means) < 3:
            return
        a, b, c = self.block_means
        # Capped against spikes, but the per-reading scale can lift the cap when the noise is
        # larger than first thought.
        cap = 9.0 * max(self.var, cfg.noise_color_factor * self.innovation_var)
        sample = min(n * (a - 2 * b + c) ** 2 / 6.0, cap)
        self.n_blocks += 1
        memory = min(self.n_blocks + cfg.noise_prior_blocks, cfg.noise_memory_blocks)
        self.var += (sample - self.var) / memory

    def to_list(self) -> list[Any]:
        return [
            self.innovation_var,
            self.var,
            self.offset,
            self.block_sum,
            self.block_n,
            self.n_blocks,
            list(self.block_means),
        ]

    @classmethod
    def from_list(cls, values: list[Any]) -> NoiseScale:
        n = cls()
        (n.innovation_var, n.var, n.offset, n.block_sum, n.block_n, n.n_blocks, means) = values
        n.block_means = [float(m) for m in means]
        return n
