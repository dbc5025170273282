"""A Bayesian change-point reference for the growth-rate benchmark's step figures (needs numpy).

How fast could anything follow a step in growth rate on these traces? This reference gets what
the online estimator does not: the noise level (for synthetic traces their profile's, for the
simulator's measured from the readings' true errors: `measured_white_var`), which readings are
spikes or were taken while media flowed in (left out), and the whole trace from 90 min before
the step at once. What it does not get is the change time. For
every reading after the step it fits, for each candidate change time `tau` on a 10-s grid from
15 min before the step to 1 min before the reading, a line with a kink at `tau` (level, rate
before, rate after) to the dilution-corrected log OD by least squares, and averages the rates
after the kink weighted by each fit's marginal likelihood, `exp(-RSS / 2R) / sqrt(det(X'X/R))`
(flat priors): the posterior mean of the new rate under white noise of variance `R`.

With the change time known instead, the fit would pin the new line to the old one; not knowing
it costs about as much as not knowing the level at the change, which is why even this
reference needs 15-25 min on some seeds to stay within 10 % of a step down to 0.3 1/h.
"""

from __future__ import annotations

import math
from typing import Any


def measured_white_var(events: list[tuple], block: int = 24) -> float:
    """Low-frequency variance per reading of a trace's log-OD errors, from its true ODs.

    The readings' errors `ln(od / true od)` are averaged in blocks of `block` consecutive readings
    (2 min at 5 s, well beyond the noise's correlation), and `block x var(block means)` is the
    variance per reading of white noise that leaves a slope as uncertain as this noise does.
    """
    errors = [math.log(ev[2] / ev[5]) for ev in events if ev[0] == "od" and not ev[4]]
    means = [sum(errors[i : i + block]) / block for i in range(0, len(errors) - block + 1, block)]
    m = sum(means) / len(means)
    return block * sum((x - m) ** 2 for x in means) / (len(means) - 1)


def bayes_step_track(
    events: list[tuple],
    t_step: float,
    t_until: float,
    r_var: float,
    before_s: float = 5400.0,
    tau_from_s: float = -900.0,
    tau_step_s: float = 10.0,
    first_s: float = 120.0,
) -> list[tuple[float, float]]:
    """(t, posterior-mean rate after the change) for each reading from `t_step + first_s` to `t_until`."""
    import numpy as np

    offset, ts, ys = 0.0, [], []
    for ev in events:
        if ev[0] == "dose":
            offset += math.log(ev[3] / ev[2])  # undo the reported dilution
        elif t_step - before_s <= ev[1] < t_until and not ev[4]:
            ts.append((ev[1] - t_step) / 3600)
            ys.append(math.log(ev[2]) + offset)
    t = np.array(ts)
    y = np.array(ys) - ys[0]

    def prefix(v: Any) -> Any:
        return np.concatenate([[0.0], np.cumsum(v)])

    c1, ct, ctt, cy, cty, cyy = (prefix(v) for v in (np.ones_like(t), t, t * t, y, t * y, y * y))
    out = []
    for ic in np.nonzero(t * 3600 >= first_s)[0]:
        end = ic + 1
        taus = np.arange(tau_from_s, t[ic] * 3600 - 60.0, tau_step_s) / 3600
        ia = np.searchsorted(t[:end], taus)  # readings before the kink: [0, ia)
        n_b = c1[end] - c1[ia]
        sb_t, sb_tt, sb_y, sb_ty = ct[end] - ct[ia], ctt[end] - ctt[ia], cy[end] - cy[ia], cty[end] - cty[ia]
        # sums of the regressors 1, u = min(t, tau), v = max(t - tau, 0) and their products with y
        su, sv = ct[ia] + taus * n_b, sb_t - taus * n_b
        suu, suv = ctt[ia] + taus**2 * n_b, taus * sb_t - taus**2 * n_b
        svv = sb_tt - 2 * taus * sb_t + taus**2 * n_b
        a = np.empty((len(taus), 3, 3))
        a[:, 0, 0] = c1[end]
        a[:, 0, 1] = a[:, 1, 0] = su
        a[:, 0, 2] = a[:, 2, 0] = sv
        a[:, 1, 1], a[:, 1, 2], a[:, 2, 1], a[:, 2, 2] = suu, suv, suv, svv
        rhs = np.stack([np.full_like(taus, cy[end]), cty[ia] + taus * sb_y, sb_ty - taus * sb_y], axis=1)
        beta = np.linalg.solve(a, rhs[..., None])[..., 0]
        rss = cyy[end] - (beta * rhs).sum(axis=1)
        log_w = -rss / (2 * r_var) - 0.5 * np.linalg.slogdet(a / r_var)[1]
        w = np.exp(log_w - log_w.max())
        out.append((t_step + t[ic] * 3600, float(w @ beta[:, 2] / w.sum())))
    return out


def settled_min(track: list[tuple[float, float]], t_step: float, new_rate: float) -> float:
    """Minutes from the step until the estimate stays within 10 % of `new_rate` (inf if it never does)."""
    settled = None
    for t, rate in track:
        if abs(rate - new_rate) > 0.1 * new_rate:
            settled = None
        elif settled is None:
            settled = t
    return (settled - t_step) / 60 if settled is not None else math.inf
