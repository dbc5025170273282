"""The virtual bioreactor's physics: pure functions of state, parameters and elapsed time.

No I/O here (persistence is ``store``, devices are ``backend``). Time ``dt_s`` is real
seconds; biology runs ``speed`` times faster, heat ``heat_speed`` times; pumps, stirring and
optics run in real time, so a pump calibrated here means the same as on a bench. The model
and its parameters are documented in docs/hardware.md.
"""

from __future__ import annotations

import math
import random
from typing import Any

from .records import Record

PUMP_ROLES = ("media", "alt_media", "waste")


class Params(Record):
    """Everything configurable, from ``[sim]`` (names are the config keys)."""

    seed: str = ""
    speed: float = 1.0  # biology runs this many times faster than the wall clock
    heat_speed: float = 1.0  # the vial's heat balance runs this many times faster
    # culture
    initial_od: float = 0.05
    mu_max_per_h: float = 1.0  # at the optimal temperature, no drug, full light
    lag_h: float = 1.0
    carrying_capacity_od: float = 2.5
    t_min_c: float = 5.0
    t_opt_c: float = 37.0
    t_max_c: float = 45.0
    drug_ic50_fraction: float = 0.2  # alt-media fraction that halves the growth rate
    drug_hill: float = 2.0
    phototroph: bool = False  # growth needs light from the LED channels below
    light_channels: str = "B,C,D"
    light_half_saturation_percent: float = 20.0
    # vial and pumps
    initial_volume_ml: float = 14.0
    waste_tube_ml: float = 14.0  # the efflux tube: waste removes only liquid above it
    max_volume_ml: float = 20.0
    pump_flow_ml_s: float = 0.5  # nominal, at 100 % duty
    pump_error_sd: float = 0.08  # per-unit relative error of each pump off nominal
    # heat
    ambient_c: float = 22.0
    heater_max_rise_c: float = 30.0  # steady-state rise above ambient at 100 % duty
    heat_time_constant_s: float = 300.0
    temperature_noise_c: float = 0.05
    temperature_resolution_c: float = 0.0625
    # stirring
    rpm_per_duty: float = 40.0
    stall_duty: float = 10.0
    stirring_time_constant_s: float = 1.0
    pulses_per_rev: float = 2.0
    # optics
    scatter_v_max: float = 3.0  # 90° signal at full IR and infinite density
    scatter_saturation_od: float = 4.0
    transmission_v: float = 2.0  # 180° signal at full IR through clear media
    transmission_per_od: float = 1.2
    reference_v: float = 0.25  # REF photodiode at full IR
    dark_offset_v: float = 0.002
    noise_relative: float = 0.005
    noise_absolute_v: float = 0.0003
    noise_time_constant_s: float = 20.0  # correlation time of the residual
    spike_probability: float = 0.002
    spike_relative: float = 0.3
    adc_full_scale_v: float = 4.096
    adc_bits: int = 16

    @classmethod
    def from_mapping(cls, values: dict[str, str]) -> Params:
        params = cls()
        for name in cls.field_names():
            raw = values.get(name)
            if raw is None or raw == "":
                continue
            default = getattr(params, name)
            try:
                if isinstance(default, bool):
                    value: Any = raw.strip().lower() in ("1", "true", "yes", "on")
                elif isinstance(default, int):
                    value = int(float(raw))
                elif isinstance(default, float):
                    value = float(raw)
                else:
                    value = raw.strip()
            except ValueError:
                raise ValueError(f"[sim] {name} = {raw!r} is not a number") from None
            setattr(params, name, value)
        if params.speed <= 0 or params.heat_speed <= 0:
            raise ValueError("[sim] speed and heat_speed must be positive")
        return params


class Draws(Record):
    """Per-unit hidden constants, drawn once from the seed and the unit's name."""

    sensitivity: dict[str, float]  # per photodiode angle
    dark_offset_v: dict[str, float]  # per ADC channel
    pump_error: dict[str, float]  # per pump role, relative
    stirring_gain: float
    stall_duty: float
    heater_gain: float
    ambient_offset_c: float

    @classmethod
    def draw(cls, rng: random.Random, p: Params) -> Draws:
        return cls(
            sensitivity={a: math.exp(rng.gauss(0, 0.15)) for a in ("45", "90", "135", "180", "REF")},
            dark_offset_v={c: p.dark_offset_v * rng.uniform(0.5, 1.5) for c in ("1", "2", "3", "4")},
            pump_error={r: rng.gauss(0, p.pump_error_sd) for r in PUMP_ROLES},
            stirring_gain=rng.gauss(1.0, 0.1),
            stall_duty=p.stall_duty * rng.uniform(0.7, 1.3),
            heater_gain=rng.gauss(1.0, 0.05),
            ambient_offset_c=rng.gauss(0, 0.5),
        )


class State(Record):
    """The true state of one vial; ``t`` is the wall-clock time it describes."""

    t: float
    od: float
    q: float  # Baranyi's physiological state: the lag ends as q grows
    volume_ml: float
    alt_media_fraction: float
    temperature_c: float
    rpm: float = 0.0
    tach_pulses: float = 0.0
    pwm: dict[str, float] = {}  # channel -> duty %
    led: dict[str, float] = {}  # channel -> intensity %
    residual: dict[str, float] = {}  # ADC channel -> correlated noise
    last_read_t: dict[str, float] = {}
    media_in_ml: float = 0.0
    alt_media_in_ml: float = 0.0
    waste_out_ml: float = 0.0
    overflow_ml: float = 0.0
    rng_counter: int = 0  # device calls that drew noise: with the seed, it fixes all future noise

    @classmethod
    def initial(cls, t: float, p: Params, d: Draws) -> State:
        q0 = 1.0 / math.expm1(max(p.mu_max_per_h * p.lag_h, 1e-9))
        return cls(t=t, od=p.initial_od, q=q0, volume_ml=p.initial_volume_ml, alt_media_fraction=0.0,
                   temperature_c=p.ambient_c + d.ambient_offset_c)


class Roles(Record):
    """Which PWM/LED channel plays which part, from the hardware map."""

    pwm: dict[str, str]  # role -> PWM channel
    ir_led: str | None
    photodiodes: dict[str, str]  # ADC channel -> angle


def cardinal_temperature_factor(t_c: float, p: Params) -> float:
    """Rosso's CTMI: 1 at ``t_opt_c``, 0 at or beyond ``t_min_c`` and ``t_max_c``."""
    t_min, t_opt, t_max = p.t_min_c, p.t_opt_c, p.t_max_c
    if not t_min < t_c < t_max:
        return 0.0
    num = (t_c - t_max) * (t_c - t_min) ** 2
    den = (t_opt - t_min) * ((t_opt - t_min) * (t_c - t_opt) - (t_opt - t_max) * (t_opt + t_min - 2 * t_c))
    return max(0.0, num / den) if den else 0.0


def drug_factor(alt_media_fraction: float, p: Params) -> float:
    """Hill inhibition by the drug in alt-media."""
    if alt_media_fraction <= 0:
        return 1.0
    return 1.0 / (1.0 + (alt_media_fraction / p.drug_ic50_fraction) ** p.drug_hill)


def light_factor(s: State, p: Params) -> float:
    if not p.phototroph:
        return 1.0
    light = sum(s.led.get(c.strip().upper(), 0.0) for c in p.light_channels.split(","))
    return light / (light + p.light_half_saturation_percent)


def growth_rate_per_h(s: State, p: Params) -> float:
    """The culture's potential specific growth rate (1/h, biological time): lag, temperature, drug
    and light included, the density limit not (see :func:`realized_growth_rate_per_h`)."""
    potential = p.mu_max_per_h * cardinal_temperature_factor(s.temperature_c, p) * drug_factor(
        s.alt_media_fraction, p) * light_factor(s, p)
    return potential * s.q / (1.0 + s.q)


def realized_growth_rate_per_h(s: State, p: Params) -> float:
    """What the OD shows, d ln(OD)/dt (1/h, biological): the potential rate times the logistic
    factor ``1 - OD / carrying_capacity_od`` that :func:`advance` applies. What a growth-rate
    estimator should find."""
    return growth_rate_per_h(s, p) * (1.0 - s.od / p.carrying_capacity_od)


def pump_flow_ml_s(s: State, p: Params, d: Draws, r: Roles, role: str) -> float:
    channel = r.pwm.get(role)
    duty = s.pwm.get(channel, 0.0) if channel else 0.0
    return p.pump_flow_ml_s * duty / 100.0 * max(0.0, 1.0 + d.pump_error.get(role, 0.0))


def steady_rpm(duty: float, d: Draws, p: Params) -> float:
    return max(0.0, p.rpm_per_duty * d.stirring_gain * (duty - d.stall_duty))


def advance(s: State, p: Params, d: Draws, r: Roles, to_t: float) -> None:
    """Move ``s`` from ``s.t`` to ``to_t`` under the actuator values it holds (in place)."""
    dt = to_t - s.t
    if dt <= 0:  # another process got there first, or the wall clock stepped back
        return
    s.t = to_t
    _advance_stirring(s, p, d, r, dt)
    q_media, q_alt, q_waste = (pump_flow_ml_s(s, p, d, r, role) for role in PUMP_ROLES)
    heater_ch = r.pwm.get("heater")
    heater_duty = s.pwm.get(heater_ch, 0.0) if heater_ch else 0.0
    t_eq = p.ambient_c + d.ambient_offset_c + d.heater_gain * p.heater_max_rise_c * heater_duty / 100.0
    tau_heat = p.heat_time_constant_s / p.heat_speed
    bio = p.speed / 3600.0  # biological hours per real second

    # sub-steps keep each step's relative change small; a long idle gap costs at most 2000 of them
    rate = max(p.mu_max_per_h * bio, (q_media + q_alt + q_waste) / max(s.volume_ml, 1.0), 1.0 / tau_heat)
    n = min(2000, max(1, math.ceil(dt * rate / 0.05)))
    h = dt / n
    for _ in range(n):
        s.temperature_c = t_eq + (s.temperature_c - t_eq) * math.exp(-h / tau_heat)
        mu_t = p.mu_max_per_h * cardinal_temperature_factor(s.temperature_c, p)
        s.q *= math.exp(mu_t * bio * h)
        growth = growth_rate_per_h(s, p) * bio * h
        k = p.carrying_capacity_od
        if s.od > 0:  # the exact logistic step for a constant rate over h
            s.od = k / (1.0 + (k / s.od - 1.0) * math.exp(-growth))
        _advance_liquids(s, p, q_media * h, q_alt * h, q_waste * h)
    s.q = min(s.q, 1e12)


def _advance_liquids(s: State, p: Params, media_ml: float, alt_ml: float, waste_ml: float) -> None:
    if media_ml or alt_ml:
        v1 = s.volume_ml + media_ml + alt_ml
        s.od *= s.volume_ml / v1
        s.alt_media_fraction = (s.alt_media_fraction * s.volume_ml + alt_ml) / v1
        s.volume_ml = v1
        s.media_in_ml += media_ml
        s.alt_media_in_ml += alt_ml
    if waste_ml:
        removed = min(waste_ml, max(0.0, s.volume_ml - p.waste_tube_ml))  # below the tube it pumps air
        s.volume_ml -= removed
        s.waste_out_ml += removed
    if s.volume_ml > p.max_volume_ml:
        s.overflow_ml += s.volume_ml - p.max_volume_ml
        s.volume_ml = p.max_volume_ml


def _advance_stirring(s: State, p: Params, d: Draws, r: Roles, dt: float) -> None:
    channel = r.pwm.get("stirring")
    target = steady_rpm(s.pwm.get(channel, 0.0) if channel else 0.0, d, p)
    tau = p.stirring_time_constant_s
    decay = math.exp(-dt / tau)
    revolutions_per_min_s = target * dt + (s.rpm - target) * tau * (1.0 - decay)  # ∫ rpm dt, exactly
    s.tach_pulses += revolutions_per_min_s / 60.0 * p.pulses_per_rev
    s.rpm = target + (s.rpm - target) * decay


def photodiode_voltage(s: State, p: Params, d: Draws, r: Roles, channel: str, rng: random.Random,
                       full_scale_v: float | None = None) -> float:
    """One ADC conversion of ``channel``: signal, correlated residual, rare spike, offset, clipping, LSB.

    The converter is an ADS1115 on the range ``full_scale_v`` (default ``adc_full_scale_v``):
    signed codes of ``adc_bits`` bits, so a step of ``full_scale_v / 2**(adc_bits-1)``, and an
    input at or beyond the range reads as the top code (saturation), below 0 as 0.
    """
    angle = r.photodiodes.get(channel, "")
    ir = (s.led.get(r.ir_led, 0.0) if r.ir_led else 0.0) / 100.0
    sensitivity = d.sensitivity.get(angle, 1.0)
    if angle == "REF":
        signal = p.reference_v * ir * sensitivity
    elif angle == "180":
        signal = p.transmission_v * ir * sensitivity * math.exp(-p.transmission_per_od * s.od)
    elif angle:  # side scatter (45, 90, 135): rises with density, then saturates
        signal = p.scatter_v_max * ir * sensitivity * -math.expm1(-s.od / p.scatter_saturation_od)
    else:
        signal = 0.0
    last = s.last_read_t.get(channel)
    rho = math.exp(-(s.t - last) / p.noise_time_constant_s) if last is not None else 0.0
    e = s.residual.get(channel, 0.0) * rho + math.sqrt(1.0 - rho * rho) * rng.gauss(0, 1)
    s.residual[channel], s.last_read_t[channel] = e, s.t
    v = signal * (1.0 + p.noise_relative * e) + p.noise_absolute_v * rng.gauss(0, 1)
    if rng.random() < p.spike_probability:
        v += signal * p.spike_relative * rng.uniform(0.5, 1.5)
    v += d.dark_offset_v.get(channel, p.dark_offset_v)
    return adc_conversion(v, full_scale_v or p.adc_full_scale_v, p.adc_bits)


def adc_conversion(volts: float, full_scale_v: float, bits: int) -> float:
    """What a single-ended conversion of ``volts`` reads: quantised, clipped to 0 .. the top code."""
    top = 2 ** (bits - 1) - 1
    lsb = full_scale_v / (top + 1)
    return min(max(round(volts / lsb), 0), top) * lsb


def temperature_reading(s: State, p: Params, rng: random.Random) -> float:
    value = s.temperature_c + rng.gauss(0, p.temperature_noise_c)
    return round(value / p.temperature_resolution_c) * p.temperature_resolution_c
