"""Growth-rate benchmark traces from the simulator: what od_reading would publish every 5 s.

`pio_sim.physics` is driven directly in simulated time (no MQTT, no processes, no wall clock:
a `State` advanced from event to event). Each reading is taken as `od_reading` takes it, with
pio-od's own code: `Sampler` (5 dark conversions per channel, IR LED on at 50 %, 9 conversions
per channel interleaved, robust means, ADC range following the signal) and `SignalChain` (dark
subtraction, normalisation by the REF photodiode), then the unit's OD calibration (`ODCurve`
of a `make_calibration` fit, as `pio calibrate od` stores it), so readings are OD600. Channels
are the default hardware map: REF on ADC 1, 90° on ADC 2, IR LED on A.

- The true rate of a reading is the realised specific growth rate of the simulated culture,
  d ln OD / dt without dilution: `realized_growth_rate_per_h(state)` (the potential rate with
  the Baranyi lag, times the logistic factor `1 - OD / carrying_capacity_od` that `advance`
  applies to it).
- The vial is held at `t_opt_c` (a constant heater duty for the unit's heater gain and ambient
  offset: the temperature job's regulation is not simulated), so temperature does not limit growth.
- Turbidostat: every 15 s (the automation's default `duration`, at a phase drawn from the seed
  against od_reading's timer) the latest reading taken after the last dose is compared with the
  target OD; at or above it, 1 ml of media is pumped in (the
  media pump on for the time its calibration gives, at 100 % duty), then 2 ml of waste (the
  default `waste_multiplier`: the simulated efflux tube stops it at 14 ml). The growth-rate job's
  inputs are emulated exactly: `add_media` (1 ml, reported at the end of the media dose) becomes
  `dilution(t, V, V + 1)` with the tracked volume `V` (14 ml, as `current_volume_ml` says).
- Calibration: standards of known OD600 (`STANDARDS_OD`) put in the unit's vial and read
  through the same chain, 5 readings each (`pio calibrate od`'s default), fitted by
  `fit_monotone`. By default the standards are read with the simulator's noise switched off
  (a careful calibration: what is left is the fit's interpolation), with `noisy_calibration`
  they carry the unit's noise as a quick calibration would.

Within one reading (~60 ms of conversions) the culture is frozen at the reading's time and only
the photodiodes' noise clock moves, 2 ms per conversion; the physics then integrates the whole
interval to the next event, so no time is lost to the readings.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pio_od import names
from pio_od.acquisition import SamplingOptions, SignalChain
from pio_od.calibration import ODCurve, make_calibration
from pio_od.sampling import Sampler
from pio_sim import physics
from pio_sim.backend import roles_from_map

from pioreactor_kernel.hardware.hwmap import HardwareMap
from pioreactor_kernel.hardware.protocols import ADS1115_FULL_SCALES_V

INTERVAL_S = 5.0
DECISION_S = 15.0  # the turbidostat's default duration (0.25 min)
CONVERSION_S = 0.002
SAMPLING = SamplingOptions()  # od_reading's defaults: 9 lit and 5 dark conversions, 2 ms LED settling
IR_INTENSITY = float(names.OD_DEFAULTS["ir_led_intensity"])
UNIT = "bench"
ROLES = roles_from_map(HardwareMap.from_config(None))  # the default hardware map
OD_CHANNEL = next(ch for ch, angle in ROLES.photodiodes.items() if angle == "90")
STANDARDS_OD = (0.0, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5, 3.0)
TARGET_OD, EXCHANGE_ML, WASTE_MULTIPLIER, WORKING_ML = 0.8, 1.0, 2.0, 14.0
UNLIMITED_OD = 1e6  # a carrying capacity that never limits: a turbidostat's fresh media

# What differs from the simulator's default Params (see docs/growth-rate-estimator.md).
TURBIDOSTAT = dict(mu_max_per_h=0.5, lag_h=0.0, initial_od=0.7, carrying_capacity_od=UNLIMITED_OD)
NOISY = dict(noise_relative=3 * 0.005, noise_absolute_v=3 * 0.0003, spike_probability=0.015)
SCENARIOS: dict[str, dict[str, Any]] = {
    "batch": dict(hours=10.0, params={}),
    "turbidostat": dict(hours=10.0, params=TURBIDOSTAT, dosing=True),
    "step": dict(
        hours=12.0,
        params={**TURBIDOSTAT, "mu_max_per_h": 0.3},
        dosing=True,
        mu_steps=[(4.0, 0.6), (8.0, 0.3)],
    ),
    "noisy": dict(hours=10.0, params={**TURBIDOSTAT, **NOISY}, dosing=True),
    # pumps not calibrated: doses timed at the nominal 0.5 ml/s, the media pump runs 4 % fast
    "pump_off": dict(
        hours=10.0, params=TURBIDOSTAT, dosing=True, pumps_calibrated=False, pump_error={"media": 0.04}
    ),
    # extra: the simulator's logistic limit (carrying capacity 2.5) left on in a turbidostat
    "turbidostat_logistic": dict(
        hours=10.0, params={**TURBIDOSTAT, "carrying_capacity_od": 2.5}, dosing=True, extra=True
    ),
}


@dataclass
class Trace:
    """A benchmark trace: readings and dosing events in time order, with the true rate recorded."""

    name: str
    # ("od", t_s, od, true rate 1/h, disturbed, true od) | ("dose", t_s, volume before ml, volume after ml);
    # disturbed: a reading the Bayesian step reference leaves out (a spike, media flowing in)
    events: list[tuple] = field(default_factory=list)
    steps: list[tuple[float, float, float]] = field(default_factory=list)  # (t_step, t_end, new rate)
    info: dict[str, Any] = field(default_factory=dict)


class Vial:
    """One simulated unit: its hidden constants (from seed), its state, and a fake clock for the ADC."""

    def __init__(
        self,
        params: physics.Params,
        seed: int,
        pump_error: dict[str, float] | None = None,
        stream: str = "noise",
    ):
        self.p = params
        self.d = physics.Draws.draw(random.Random(f"{seed}:{UNIT}:draws"), params)  # as SimStore draws a unit
        if pump_error:
            self.d.pump_error.update(pump_error)
        self.s = physics.State.initial(0.0, params, self.d)
        self.rng = random.Random(f"{seed}:{UNIT}:{stream}")
        # hold the culture at its optimal temperature
        rise = self.d.heater_gain * params.heater_max_rise_c
        duty = (params.t_opt_c - params.ambient_c - self.d.ambient_offset_c) / rise * 100.0
        self.s.pwm[ROLES.pwm["heater"]] = duty
        self.s.temperature_c = params.ambient_c + self.d.ambient_offset_c + rise * duty / 100.0
        self.clock = 0.0  # the conversions' clock within a reading
        adcs = {ch: _ADC(self, ch) for ch in sorted(ROLES.photodiodes)}
        # settle_s 0: the fake LED moves the conversions' clock instead of sleeping
        self.sampler = Sampler(
            _LED(self),
            adcs,
            samples=SAMPLING.samples,
            dark_samples=SAMPLING.dark_samples,
            settle_s=0.0,
            full_scale_v=SAMPLING.full_scale_v,
        )
        self.chain = SignalChain(dict(ROLES.photodiodes))

    def advance(self, t: float) -> None:
        physics.advance(self.s, self.p, self.d, ROLES, t)

    def true_rate(self) -> float:
        return physics.realized_growth_rate_per_h(self.s, self.p)

    def signal(self) -> float | None:
        """One od_reading reading of the 90° channel (V/V) at the state's time, or None if it failed."""
        t = self.s.t
        self.clock = t
        try:
            reading = self.chain.reading(self.sampler.sample(IR_INTENSITY))
        finally:
            self.s.t = t
        return reading.signals.get(OD_CHANNEL)

    def pump_flow_ml_s(self, role: str) -> float:
        """The true flow of the unit's pump at 100 % duty: what a pump calibration measures."""
        return self.p.pump_flow_ml_s * (1.0 + self.d.pump_error[role])


class _LED:
    def __init__(self, vial: Vial):
        self.vial = vial

    def set_intensity(self, intensity_percent: float) -> None:
        self.vial.s.led[ROLES.ir_led] = intensity_percent  # type: ignore[index]
        if intensity_percent > 0:
            self.vial.clock += SAMPLING.settle_s


class _ADC:
    full_scale_ranges_v = ADS1115_FULL_SCALES_V

    def __init__(self, vial: Vial, channel: str):
        self.vial, self.channel = vial, channel
        self.full_scale_v = vial.p.adc_full_scale_v

    def set_full_scale_v(self, volts: float) -> None:
        self.full_scale_v = float(volts)

    def read_voltage(self) -> float:
        vial = self.vial
        vial.clock += CONVERSION_S
        vial.s.t = vial.clock
        return physics.photodiode_voltage(
            vial.s, vial.p, vial.d, ROLES, self.channel, vial.rng, self.full_scale_v
        )


def calibrate(params: physics.Params, seed: int, noisy: bool = False, readings: int = 5) -> ODCurve:
    """The unit's OD calibration from `STANDARDS_OD`, measured as `pio calibrate od` measures them.

    Each standard is read `readings` times 0.2 s apart (`read_mean`) by a fresh sampler (the
    command opens the OD hardware per standard, so its ADC ranges start on the largest), then
    `make_calibration` fits the curve. Without `noisy` the photodiodes' noise is off.
    """
    if not noisy:
        params = replace_params(params, noise_relative=0.0, noise_absolute_v=0.0, spike_probability=0.0)
    signals = []
    for od in STANDARDS_OD:
        vial = Vial(params, seed, stream=f"standard {od}")
        vial.s.od = od
        values = []
        for _ in range(readings):
            vial.s.t += 0.2  # nothing else moves: a standard does not grow
            v = vial.signal()
            if v is not None:
                values.append(v)
        signals.append(sum(values) / len(values))
    cal = make_calibration(
        "bench",
        "90",
        OD_CHANNEL,
        signals,
        list(STANDARDS_OD),
        signal_unit="V/V",
        ir_led_intensity=IR_INTENSITY,
    )
    return ODCurve(cal)


def replace_params(params: physics.Params, **changes: Any) -> physics.Params:
    return physics.Params(**{**params.to_dict(), **changes})


def build(kind: str, seed: int, noise_scale: float = 1.0, noisy_calibration: bool = False) -> Trace:
    """The trace of `SCENARIOS[kind]` on the unit of `seed` (its draws, its noise).

    `noise_scale` multiplies the photodiodes' noise (`noise_relative`, `noise_absolute_v`; not spikes).
    """
    spec = SCENARIOS[kind]
    params = replace_params(physics.Params(), seed=str(seed), **spec["params"])
    if noise_scale != 1.0:
        params = replace_params(
            params,
            noise_relative=params.noise_relative * noise_scale,
            noise_absolute_v=params.noise_absolute_v * noise_scale,
        )
    curve = calibrate(params, seed, noisy_calibration)
    vial = Vial(params, seed, spec.get("pump_error"))
    end_s = spec["hours"] * 3600
    trace = Trace(kind, info={"pump_error": dict(vial.d.pump_error)})
    mu_steps = spec.get("mu_steps", [])
    ends = [h for h, _ in mu_steps[1:]] + [spec["hours"]] if mu_steps else []
    trace.steps = [(h * 3600, e * 3600, mu) for (h, mu), e in zip(mu_steps, ends, strict=True)]

    queue: list[tuple[float, int, str, Any]] = []
    seq = 0

    def at(t: float, what: str, data: Any = None) -> None:
        nonlocal seq
        heapq.heappush(queue, (t, seq, what, data))
        seq += 1

    for k in range(int(end_s / INTERVAL_S)):
        at(k * INTERVAL_S, "reading")
    for h, mu in mu_steps:
        at(h * 3600, "mu", mu)
    if spec.get("dosing"):  # the automation's timer runs at its own phase against od_reading's
        phase = random.Random(f"{seed}:{UNIT}:automation").uniform(0.0, DECISION_S)
        for k in range(int(end_s / DECISION_S)):
            at(phase + k * DECISION_S, "decide")
    calibrated = spec.get("pumps_calibrated", True)
    flow = {r: vial.pump_flow_ml_s(r) if calibrated else params.pump_flow_ml_s for r in ("media", "waste")}
    latest: tuple[float, float] | None = None  # (t, od) of the latest reading
    dose_ended = -math.inf
    volume_ml = WORKING_ML  # the tracked vial, as current_volume_ml publishes it

    def reading(t: float, _: Any) -> None:
        nonlocal latest
        signal = vial.signal()
        if signal is None:
            return
        od = curve(signal).od
        latest = (t, od)
        dosing = vial.s.pwm.get(ROLES.pwm["media"], 0.0) > 0
        trace.events.append(("od", t, od, vial.true_rate(), dosing, vial.s.od))

    def decide(t: float, _: Any) -> None:
        if latest is None or latest[0] <= dose_ended or latest[1] < TARGET_OD:
            return
        vial.s.pwm[ROLES.pwm["media"]] = 100.0
        at(t + EXCHANGE_ML / flow["media"], "media_off")

    def media_off(t: float, _: Any) -> None:
        nonlocal volume_ml
        vial.s.pwm[ROLES.pwm["media"]] = 0.0
        trace.events.append(("dose", t, volume_ml, volume_ml + EXCHANGE_ML))
        volume_ml += EXCHANGE_ML
        vial.s.pwm[ROLES.pwm["waste"]] = 100.0
        at(t + WASTE_MULTIPLIER * EXCHANGE_ML / flow["waste"], "waste_off")

    def waste_off(t: float, _: Any) -> None:
        nonlocal volume_ml, dose_ended
        vial.s.pwm[ROLES.pwm["waste"]] = 0.0
        volume_ml = max(volume_ml - WASTE_MULTIPLIER * EXCHANGE_ML, WORKING_ML)
        dose_ended = t

    def mu(t: float, value: float) -> None:
        vial.p.mu_max_per_h = value

    handlers: dict[str, Callable[[float, Any], None]] = {
        "reading": reading,
        "decide": decide,
        "media_off": media_off,
        "waste_off": waste_off,
        "mu": mu,
    }
    while queue:
        t, _, what, data = heapq.heappop(queue)
        vial.advance(t)
        handlers[what](t, data)
    for t_step, t_end, new in trace.steps:  # the simulator's own rate must have stepped, not only ours
        stepped = [ev[3] for ev in trace.events if ev[0] == "od" and t_step < ev[1] < t_end]
        if not all(abs(r - new) <= 1e-3 * new for r in stepped):
            raise RuntimeError(
                f"{kind}: the simulated growth rate did not step to {new} 1/h at {t_step / 3600:g} h"
            )
    trace.info["final_volume_ml"] = vial.s.volume_ml
    trace.info["overflow_ml"] = vial.s.overflow_ml
    return trace
