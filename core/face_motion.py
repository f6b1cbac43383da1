"""The face-motion vector: ARKit blendshape names plus head rotation (docs/ENGINE.md, docs/MODEL.md).

Defined once here. The motion generator produces it, the renderers draw it, the
``/avatar/face_motion`` topic and ``--motion`` tracks carry it by name, so any
other face (a 3D avatar, an animatronic head) can be driven from it alone.

Blendshapes are 0..1 like ARKit's; ``headYaw``/``headPitch``/``headRoll`` are
radians. Conventions (the portrait's own point of view, as ARKit's):
* ``headYaw`` + turns the face toward the image's right (the subject's left);
  ``headPitch`` + tips the chin down (a nod); ``headRoll`` + tilts the top of the
  head toward the image's right.
* ``eyeLookOutLeft``/``eyeLookInRight`` together look toward the image's right
  (the subject's left); ``eyeLookUp*``/``eyeLookDown*`` up and down.

The corpus' ground truth (docs/CORPUS.md) maps onto it with ``from_corpus``; the
inverse used by the renderers' tests and the evaluation is ``to_corpus``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MotionSpec:
    name: str
    low: float
    high: float
    doc: str
    neutral: float = 0.0


def _pair(stem: str, doc: str) -> tuple[MotionSpec, MotionSpec]:
    return (MotionSpec(f"{stem}Left", 0.0, 1.0, f"{doc} (subject's left)"),
            MotionSpec(f"{stem}Right", 0.0, 1.0, f"{doc} (subject's right)"))


HEAD_LIMIT_RAD = math.radians(20.0)   # beyond this a one-photo warp tears; renderers clamp further

MOTION: tuple[MotionSpec, ...] = (
    MotionSpec("jawOpen", 0.0, 1.0, "inner-lip aperture with the jaw and chin following"),
    MotionSpec("mouthClose", 0.0, 1.0, "lips pressed shut against an open jaw"),
    MotionSpec("mouthFunnel", 0.0, 1.0, "lips rounded and open (oo, oh)"),
    MotionSpec("mouthPucker", 0.0, 1.0, "lips rounded, narrow and pushed forward (w, u)"),
    *_pair("mouthStretch", "mouth corner pulled outward (ee, wide visemes)"),
    *_pair("mouthSmile", "mouth corner up and out"),
    *_pair("mouthFrown", "mouth corner down"),
    MotionSpec("browInnerUp", 0.0, 1.0, "inner brows up"),
    *_pair("browOuterUp", "outer brow up"),
    *_pair("browDown", "brow down and toward the nose"),
    *_pair("eyeBlink", "upper lid closed"),
    *_pair("eyeWide", "upper lid raised above neutral"),
    *_pair("eyeSquint", "lower lid raised"),
    *_pair("eyeLookIn", "eye turned toward the nose"),
    *_pair("eyeLookOut", "eye turned away from the nose"),
    *_pair("eyeLookUp", "eye turned up"),
    *_pair("eyeLookDown", "eye turned down"),
    MotionSpec("headYaw", -HEAD_LIMIT_RAD, HEAD_LIMIT_RAD, "head turn, + toward the image's right, rad"),
    MotionSpec("headPitch", -HEAD_LIMIT_RAD, HEAD_LIMIT_RAD, "head pitch, + chin down (nod), rad"),
    MotionSpec("headRoll", -HEAD_LIMIT_RAD, HEAD_LIMIT_RAD, "head roll, + top toward the image's right, rad"),
)

NAMES: tuple[str, ...] = tuple(m.name for m in MOTION)
DIM = len(MOTION)
INDEX: dict[str, int] = {n: i for i, n in enumerate(NAMES)}
LOW = np.array([m.low for m in MOTION], np.float32)
HIGH = np.array([m.high for m in MOTION], np.float32)
HEAD = ("headYaw", "headPitch", "headRoll")

# Corpus scales (docs/CORPUS.md, model_runtime/corpus/behaviour.py): eye_open 1 is a neutral
# lid, 1.5 the widest; gaze +-1 is the corpus' full iris offset; head angles are degrees.
EYE_WIDE_SPAN = 0.5
WIDTH_STRETCH_SPAN = 0.25      # mouth_width 1.25 (widest viseme x smile) -> stretch 1
WIDTH_PUCKER_SPAN = 0.3        # mouth_width 0.7 -> pucker 1 when not already rounded
# The corpus' eye_open is the lid times (1 - LID_SQUINT_SHARE * clip(squint + SMILE_SQUINT_SHARE *
# smile)) (behaviour.compose, as draw_eyes renders it): a squint or smile narrows the lid. That
# share is divided out so it shows in eyeSquint only, not as a partial blink.
LID_SQUINT_SHARE = 0.25
SMILE_SQUINT_SHARE = 0.35


def neutral() -> np.ndarray:
    """(DIM,) float32 neutral motion: a still face looking ahead."""
    return np.array([m.neutral for m in MOTION], np.float32)


def clip(motion: np.ndarray) -> np.ndarray:
    """Clamp (..., DIM) to each channel's range."""
    return np.clip(motion, LOW, HIGH).astype(np.float32)


def vector(values: dict[str, float]) -> np.ndarray:
    """(DIM,) from a {name: value} mapping; unnamed channels neutral. KeyError on unknown names."""
    out = neutral()
    for name, value in values.items():
        out[INDEX[name]] = float(value)
    return out


def as_dict(motion: np.ndarray) -> dict[str, float]:
    return {n: float(v) for n, v in zip(NAMES, np.asarray(motion).reshape(DIM))}


def _set_pair(out: np.ndarray, stem: str, value: np.ndarray) -> None:
    out[..., INDEX[f"{stem}Left"]] = value
    out[..., INDEX[f"{stem}Right"]] = value


def gaze_channels(out: np.ndarray, gaze_x: np.ndarray, gaze_y: np.ndarray) -> None:
    """Write gaze (+x toward the image's right, +y down, -1..1) into the eyeLook channels."""
    right, left = np.clip(gaze_x, 0, 1), np.clip(-gaze_x, 0, 1)
    # Looking toward the image's right = the subject's left: the left eye turns out, the right in.
    out[..., INDEX["eyeLookOutLeft"]] = right
    out[..., INDEX["eyeLookInRight"]] = right
    out[..., INDEX["eyeLookInLeft"]] = left
    out[..., INDEX["eyeLookOutRight"]] = left
    _set_pair(out, "eyeLookDown", np.clip(gaze_y, 0, 1))
    _set_pair(out, "eyeLookUp", np.clip(-gaze_y, 0, 1))


def gaze_of(motion: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(gaze_x, gaze_y) of (..., DIM) motion: the inverse of ``gaze_channels``, averaged over eyes."""
    m = np.asarray(motion, np.float32)
    right = 0.5 * (m[..., INDEX["eyeLookOutLeft"]] + m[..., INDEX["eyeLookInRight"]])
    left = 0.5 * (m[..., INDEX["eyeLookInLeft"]] + m[..., INDEX["eyeLookOutRight"]])
    down = 0.5 * (m[..., INDEX["eyeLookDownLeft"]] + m[..., INDEX["eyeLookDownRight"]])
    up = 0.5 * (m[..., INDEX["eyeLookUpLeft"]] + m[..., INDEX["eyeLookUpRight"]])
    return right - left, down - up


def from_corpus(gt: dict, rounding: np.ndarray | None = None, squint: np.ndarray | None = None) -> np.ndarray:
    """(T, DIM) face motion from a corpus clip's per-frame ground truth (``gt.json`` -> ``frames``).

    ``rounding`` (T,) is the viseme lip rounding 0..1 (``corpus.visemes.mouth_tracks``, zero
    outside speech; the motion corpus stores it as ``viseme_rounding``); ``squint`` (T,) the
    commanded eye_squint (``frames["expression"]``). Without them those channels stay neutral.
    eyeBlink/eyeWide are the lid with the squint's and smile's narrowing divided out.
    """
    mouth_open = np.asarray(gt["mouth_open"], np.float32)
    n = len(mouth_open)
    out = np.tile(neutral(), (n, 1))
    rounding = np.zeros(n, np.float32) if rounding is None else np.asarray(rounding, np.float32)
    out[:, INDEX["jawOpen"]] = mouth_open
    out[:, INDEX["mouthFunnel"]] = rounding * np.clip(mouth_open / 0.3, 0, 1)
    out[:, INDEX["mouthPucker"]] = rounding * (1 - np.clip(mouth_open / 0.3, 0, 1))
    width = np.asarray(gt["mouth_width"], np.float32)
    smile = np.asarray(gt["smile"], np.float32)
    # mouth_width already holds the smile's widening (x(1 + 0.16 smile)): take it out so that
    # stretch is the viseme's share only and the smile is not counted twice.
    viseme_width = width / (1 + 0.16 * np.clip(smile, 0, 1))
    _set_pair(out, "mouthStretch", np.clip((viseme_width - 1) / WIDTH_STRETCH_SPAN, 0, 1))
    _set_pair(out, "mouthSmile", np.clip(smile, 0, 1))
    _set_pair(out, "mouthFrown", np.clip(-smile, 0, 1))
    brow = np.asarray(gt["brow"], np.float32)
    out[:, INDEX["browInnerUp"]] = np.clip(brow, 0, 1)
    _set_pair(out, "browOuterUp", np.clip(brow, 0, 1))
    _set_pair(out, "browDown", np.clip(-brow, 0, 1))
    squint = np.zeros(n, np.float32) if squint is None else np.clip(np.asarray(squint, np.float32), 0, 1)
    narrowing = 1 - LID_SQUINT_SHARE * np.clip(squint + SMILE_SQUINT_SHARE * np.clip(smile, 0, 1), 0, 1)
    lid = np.asarray(gt["eye_open"], np.float32) / narrowing
    _set_pair(out, "eyeBlink", np.clip(1 - lid, 0, 1))
    _set_pair(out, "eyeWide", np.clip((lid - 1) / EYE_WIDE_SPAN, 0, 1))
    _set_pair(out, "eyeSquint", squint)
    gaze_channels(out, np.asarray(gt["gaze_x"], np.float32), np.asarray(gt["gaze_y"], np.float32))
    for key, name in (("head_yaw", "headYaw"), ("head_pitch", "headPitch"), ("head_roll", "headRoll")):
        out[:, INDEX[name]] = np.radians(np.asarray(gt[key], np.float32))
    return clip(out)


def to_corpus(motion: np.ndarray) -> dict[str, np.ndarray]:
    """The corpus' scalar parameters of (T, DIM) motion (the inverse of ``from_corpus`` where it
    is one-to-one): mouth_open, smile, brow, eye_open, gaze_x, gaze_y, head_* in degrees."""
    m = np.asarray(motion, np.float32)
    pair = lambda stem: 0.5 * (m[..., INDEX[f"{stem}Left"]] + m[..., INDEX[f"{stem}Right"]])  # noqa: E731
    gaze_x, gaze_y = gaze_of(m)
    return {
        "mouth_open": m[..., INDEX["jawOpen"]],
        "rounding": m[..., INDEX["mouthFunnel"]] + m[..., INDEX["mouthPucker"]],
        "smile": pair("mouthSmile") - pair("mouthFrown"),
        "brow": np.maximum(m[..., INDEX["browInnerUp"]], pair("browOuterUp")) - pair("browDown"),
        "eye_open": 1 - pair("eyeBlink") + EYE_WIDE_SPAN * pair("eyeWide"),
        "gaze_x": gaze_x, "gaze_y": gaze_y,
        "head_yaw": np.degrees(m[..., INDEX["headYaw"]]),
        "head_pitch": np.degrees(m[..., INDEX["headPitch"]]),
        "head_roll": np.degrees(m[..., INDEX["headRoll"]]),
    }


def from_expression(expression: np.ndarray, nod_deg: float, tilt_deg: float) -> np.ndarray:
    """(..., DIM) motion that the commanded expression vector(s) (..., expression.DIM) adds on top
    of the generated motion: "commanded expression and gaze are added explicitly" (docs/MODEL.md, Motion generator).

    ``nod_deg``/``tilt_deg``: degrees of head pitch/roll at head_nod/head_tilt = 1 (the corpus'
    NOD_DEG and TILT_DEG, passed in so that core/ does not import the corpus)."""
    from avatar.core.expression import INDEX as E

    e = np.asarray(expression, np.float32)
    out = np.zeros(e.shape[:-1] + (DIM,), np.float32)
    _set_pair(out, "mouthSmile", e[..., E["smile"]])
    _set_pair(out, "mouthFrown", e[..., E["frown"]])
    out[..., INDEX["browInnerUp"]] = e[..., E["brow_raise"]]
    _set_pair(out, "browOuterUp", e[..., E["brow_raise"]])
    _set_pair(out, "browDown", e[..., E["brow_furrow"]])
    eye = e[..., E["eye_open"]]
    _set_pair(out, "eyeBlink", np.clip(-eye, 0, 1))
    _set_pair(out, "eyeWide", np.clip(eye, 0, 1))
    _set_pair(out, "eyeSquint", e[..., E["eye_squint"]])
    gaze_channels(out, e[..., E["gaze_x"]], e[..., E["gaze_y"]])
    out[..., INDEX["headPitch"]] = np.radians(nod_deg) * e[..., E["head_nod"]]
    out[..., INDEX["headRoll"]] = np.radians(tilt_deg) * e[..., E["head_tilt"]]
    return out
