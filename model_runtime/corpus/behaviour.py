"""Per-frame behaviour of a clip: commanded expression plus state-driven motion.

The commanded expression vector (avatar.core.expression order) is a smooth
trajectory of holds and eased transitions. On top of it each state adds its
own motion: speaking moves the head with the voice's energy and raises brows
on emphasis; listening nods, raises brows and smiles a little with a closed
mouth; idle blinks, breathes and lets the gaze drift. Blinks happen in every
state. ``compose`` turns it all into FaceStates and the ground-truth arrays.
"""
from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from avatar.core.expression import CONTROLS, DIM, INDEX
from avatar.core.state_machine import State
from avatar.core.timebase import FPS, SAMPLES_PER_FRAME

from .draw_features import FaceState

NOD_DEG, TILT_DEG = 15.0, 12.0  # head_nod / head_tilt = +-1 in degrees


def _ease(x: np.ndarray) -> np.ndarray:
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def _random_target(rng: np.random.Generator) -> np.ndarray:
    v = np.array([c.neutral for c in CONTROLS], np.float64)
    if rng.random() < 0.35:
        return v
    pick = lambda p, lo, hi: float(rng.uniform(lo, hi)) if rng.random() < p else 0.0  # noqa: E731
    v[INDEX["smile"]] = pick(0.4, 0.2, 1.0)
    if v[INDEX["smile"]] == 0.0:
        v[INDEX["frown"]] = pick(0.25, 0.2, 0.9)
    v[INDEX["brow_raise"]] = pick(0.3, 0.2, 1.0)
    if v[INDEX["brow_raise"]] == 0.0:
        v[INDEX["brow_furrow"]] = pick(0.25, 0.2, 1.0)
    v[INDEX["eye_open"]] = pick(0.3, -0.6, 0.9)
    v[INDEX["eye_squint"]] = pick(0.2, 0.2, 0.8)
    v[INDEX["gaze_x"]] = pick(0.3, -0.8, 0.8)
    v[INDEX["gaze_y"]] = pick(0.25, -0.6, 0.6)
    v[INDEX["head_nod"]] = pick(0.25, -0.6, 0.6)
    v[INDEX["head_tilt"]] = pick(0.25, -0.7, 0.7)
    return v


def expression_track(rng: np.random.Generator, n: int, fps: int) -> np.ndarray:
    """(T, 10) commanded vector: holds of 1.5-4 s joined by 0.3-0.8 s eased transitions."""
    out = np.zeros((n, DIM), np.float64)
    current = _random_target(rng) if rng.random() < 0.5 else out[0].copy()
    t = 0
    while t < n:
        hold = int(rng.uniform(1.5, 4.0) * fps)
        out[t:t + hold] = current
        t += hold
        target = _random_target(rng)
        ramp = max(2, int(rng.uniform(0.3, 0.8) * fps))
        w = _ease((np.arange(ramp) + 1) / ramp)[:, None]
        seg = current + (target - current) * w
        out[t:t + ramp] = seg[:max(0, min(ramp, n - t))]
        t += ramp
        current = target
    return out


def _pulses(rng, n: int, fps: int, active: np.ndarray, every: tuple[float, float],
            width_s: float, amp: tuple[float, float]) -> np.ndarray:
    """Smooth bumps at random times inside ``active`` frames."""
    out = np.zeros(n)
    t = rng.uniform(*every) * 0.5
    frames = np.arange(n) / fps
    while t < n / fps:
        i = int(t * fps)
        if active[min(i, n - 1)]:
            out += rng.uniform(*amp) * np.exp(-0.5 * ((frames - t) / width_s) ** 2)
        t += rng.uniform(*every)
    return out


def blink_track(rng, n: int, fps: int) -> np.ndarray:
    """Lid multiplier (T,): 1 open, ~0 at the middle of a blink (fast close, slower open)."""
    mult = np.ones(n)
    frames = (np.arange(n) + 0.5) / fps
    t = rng.uniform(0.3, 3.0)
    while t < n / fps:
        d = frames - t
        w = np.where(d < 0, 0.045, 0.075)
        mult *= 1.0 - np.exp(-0.5 * (d / w) ** 2)
        t += rng.exponential(3.2) + 0.6
    return np.clip(mult, 0.0, 1.0)


def _smooth_noise(rng, n: int, fps: int, sigma_s: float, amp: float) -> np.ndarray:
    x = gaussian_filter1d(rng.standard_normal(n + 4 * fps), sigma_s * fps, mode="wrap")
    x = x[2 * fps:2 * fps + n]
    return amp * x / (x.std() + 1e-9)


def _saccades(rng, n: int, fps: int, amp_by_state: np.ndarray, state: np.ndarray) -> np.ndarray:
    """Fixations held 0.8-2.5 s, with quick 2-frame jumps between them."""
    out = np.zeros(n)
    t, value = 0, 0.0
    while t < n:
        hold = int(rng.uniform(0.8, 2.5) * fps)
        amp = amp_by_state[state[min(t, n - 1)]]
        target = float(rng.uniform(-amp, amp))
        ramp = np.linspace(value, target, 3)[1:]
        seg = np.concatenate([ramp, np.full(hold, target)])
        out[t:t + len(seg)] = seg[:max(0, n - t)]
        t += len(seg)
        value = target
    return out


def energy_track(speech: np.ndarray, n: int, hop: int = SAMPLES_PER_FRAME) -> np.ndarray:
    """(T,) loudness per video frame in [0, 1] (dB above -60, scaled)."""
    x = speech[:n * hop].reshape(n, hop).astype(np.float64)
    db = 10 * np.log10((x * x).mean(1) + 1e-9)
    return np.clip((db + 60.0) / 60.0, 0.0, 1.0)


def compose(rng, state: np.ndarray, mouth: dict, expr: np.ndarray, speech: np.ndarray,
            fps: int = FPS) -> tuple[list[FaceState], dict]:
    """FaceStates for rendering and the per-frame ground truth (docs/CORPUS.md)."""
    n = len(state)
    spk, lst, idle = state == State.SPEAKING, state == State.LISTENING, state == State.IDLE
    e = expr
    energy = gaussian_filter1d(energy_track(speech, n), 1.5) * spk

    beh_smile = np.clip(_pulses(rng, n, fps, lst, (1.5, 4.0), 0.5, (0.1, 0.35)), 0, 0.4)
    beh_brow = _pulses(rng, n, fps, lst, (2.0, 5.0), 0.25, (0.2, 0.5))
    emphasis = np.clip(energy - gaussian_filter1d(energy, 12.0), 0, None)
    beh_brow = np.clip(beh_brow + 1.5 * emphasis, 0, 0.6)
    smile = np.clip(e[:, INDEX["smile"]] + beh_smile, 0, 1)
    frown = e[:, INDEX["frown"]]
    brow_raise = np.clip(e[:, INDEX["brow_raise"]] + beh_brow, 0, 1)
    furrow = e[:, INDEX["brow_furrow"]]

    eye_cmd = e[:, INDEX["eye_open"]]
    lid_cmd = 1.0 + np.where(eye_cmd > 0, 0.5, 1.0) * eye_cmd
    squint = e[:, INDEX["eye_squint"]]
    lid = lid_cmd * blink_track(rng, n, fps)
    eye_open = lid * (1.0 - 0.25 * np.clip(squint + 0.35 * smile, 0, 1))  # as draw_eyes renders it

    gaze_amp = np.array([0.55, 0.15, 0.25])                   # by state: idle, listening, speaking
    gaze_x = np.clip(e[:, INDEX["gaze_x"]] + _saccades(rng, n, fps, gaze_amp, state), -1, 1)
    gaze_y = np.clip(e[:, INDEX["gaze_y"]] + _saccades(rng, n, fps, 0.6 * gaze_amp, state), -1, 1)

    t = np.arange(n) / fps
    breathe = np.sin(2 * np.pi * rng.uniform(0.2, 0.3) * t + rng.uniform(0, 6.3))
    nods = _pulses(rng, n, fps, lst, (1.2, 3.0), 0.18, (3.0, 7.0))
    yaw_amp = np.where(idle, 6.0, np.where(lst, 3.0, 4.0))
    yaw = gaussian_filter1d(yaw_amp, 5) * _smooth_noise(rng, n, fps, 0.8, 1.0)
    prosody = 6.0 * (energy - gaussian_filter1d(energy, 10.0))
    pitch = (NOD_DEG * e[:, INDEX["head_nod"]] + nods - prosody + 0.6 * breathe * idle
             + _smooth_noise(rng, n, fps, 1.0, 1.0))
    roll = TILT_DEG * e[:, INDEX["head_tilt"]] + _smooth_noise(rng, n, fps, 1.2, 1.5)
    aperture = mouth["aperture"] * spk                          # lips stay shut unless speaking
    width = np.where(spk, mouth["width"], 1.0)
    rounding = mouth["rounding"] * spk

    states = [FaceState(aperture=aperture[i], width=width[i], rounding=rounding[i],
                        smile=smile[i], frown=frown[i], brow_raise=brow_raise[i],
                        brow_furrow=furrow[i], lid=lid[i], squint=squint[i],
                        gaze_x=gaze_x[i], gaze_y=gaze_y[i], yaw=yaw[i], pitch=pitch[i],
                        roll=roll[i], breathe=0.7 * breathe[i] * (1.0 - 0.6 * spk[i]))
              for i in range(n)]
    r4 = lambda a: [round(float(v), 4) for v in a]  # noqa: E731
    gt = {
        "mouth_open": r4(aperture),
        "mouth_width": r4(width * (1 + 0.16 * smile - 0.04 * frown)),
        "smile": r4(smile - frown),
        "brow": r4(brow_raise - furrow),
        "eye_open": r4(eye_open),
        "gaze_x": r4(gaze_x), "gaze_y": r4(gaze_y),
        "head_yaw": r4(yaw), "head_pitch": r4(pitch), "head_roll": r4(roll),
        "state": [int(s) for s in state],
        "expression": [r4(row) for row in expr],
    }
    return states, gt
