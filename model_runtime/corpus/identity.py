"""Procedural identities: discrete categories plus continuous jitter.

``COMBINATIONS`` counts the distinct discrete combinations (the continuous
jitter on proportions and colours comes on top of it).
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

FACE_SHAPES = ("oval", "round", "long", "square")
SKIN_TONES = ((255, 224, 196), (241, 194, 160), (224, 172, 130), (198, 140, 98),
              (170, 112, 74), (141, 85, 54), (108, 66, 44), (236, 200, 175))        # RGB
HAIR_STYLES = ("bald", "short", "side_part", "long", "bun", "curly")
HAIR_COLOURS = ((25, 20, 18), (60, 40, 28), (100, 66, 40), (150, 105, 60), (210, 175, 110),
                (165, 70, 35), (130, 128, 125), (225, 222, 215))                   # RGB
EYE_SHAPES = ("almond", "round", "narrow")
IRIS_COLOURS = ((70, 45, 25), (120, 80, 40), (60, 110, 160), (80, 130, 90), (110, 110, 120),
                (35, 25, 20))
BROW_THICKNESS = ("thin", "medium", "thick")
BROW_SHAPES = ("straight", "arched", "angled")
NOSE_SHAPES = ("small", "straight", "wide", "long")
LIP_COLOURS = ((190, 110, 110), (170, 90, 90), (200, 120, 130), (150, 80, 75), (205, 95, 105))
LIP_THICKNESS = ("thin", "medium", "full")
GLASSES = ("none", "round", "rect")
FACIAL_HAIR = ("none", "beard", "moustache", "full")
BACKGROUNDS = ("flat", "vertical", "horizontal", "radial", "diagonal", "split", "blobs", "stripes")
LIGHTS = ("front", "left", "right", "top_left", "top_right")

_CATEGORIES = (FACE_SHAPES, SKIN_TONES, HAIR_STYLES, HAIR_COLOURS, EYE_SHAPES, IRIS_COLOURS,
               BROW_THICKNESS, BROW_SHAPES, NOSE_SHAPES, LIP_COLOURS, LIP_THICKNESS, GLASSES,
               FACIAL_HAIR, BACKGROUNDS, LIGHTS)
COMBINATIONS = math.prod(len(c) for c in _CATEGORIES)


@dataclass
class Identity:
    name: str
    face_shape: str
    skin: tuple[int, int, int]
    hair_style: str
    hair: tuple[int, int, int]
    eye_shape: str
    iris: tuple[int, int, int]
    brow_thickness: str
    brow_shape: str
    nose: str
    lips: tuple[int, int, int]
    lip_thickness: str
    glasses: str
    facial_hair: str
    background: str
    light: str
    # continuous jitter, roughly in [-1, 1]: proportions and placement
    face_w: float
    face_h: float
    eye_spacing: float
    eye_height: float
    mouth_width: float
    nose_length: float
    brow_height: float
    # colours
    bg_a: tuple[int, int, int]
    bg_b: tuple[int, int, int]
    shirt: tuple[int, int, int]
    glasses_colour: tuple[int, int, int]
    light_strength: float

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict) -> "Identity":
        fields = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**fields)


def _choice(rng: np.random.Generator, options):
    return options[int(rng.integers(len(options)))]


def _jitter_colour(rng: np.random.Generator, rgb, amount: float) -> tuple[int, int, int]:
    c = np.asarray(rgb, np.float64) * (1.0 + rng.uniform(-amount, amount))
    c += rng.uniform(-8, 8, 3)
    return tuple(int(v) for v in np.clip(c, 0, 255))


def _random_colour(rng: np.random.Generator, sat: tuple[float, float],
                   val: tuple[float, float]) -> tuple[int, int, int]:
    """HSV -> RGB without OpenCV so that colours are exact across builds."""
    h, s, v = rng.uniform(0, 6), rng.uniform(*sat), rng.uniform(*val)
    i, f = int(h), h - int(h)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    rgb = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)][i % 6]
    return tuple(int(round(255 * c)) for c in rgb)


def sample_identity(name: str, rng: np.random.Generator) -> Identity:
    hair_style = _choice(rng, HAIR_STYLES)
    # long hair and buns mostly without beards: a mild prior, every combination stays possible
    p_facial_hair = 0.25 if hair_style in ("long", "bun") else 0.5
    facial_hair = _choice(rng, FACIAL_HAIR) if rng.random() < p_facial_hair else "none"
    glasses = _choice(rng, GLASSES) if rng.random() < 0.45 else "none"
    u = lambda: float(rng.uniform(-1, 1))  # noqa: E731  (short local helper)
    return Identity(
        name=name,
        face_shape=_choice(rng, FACE_SHAPES),
        skin=_jitter_colour(rng, _choice(rng, SKIN_TONES), 0.05),
        hair_style=hair_style,
        hair=_jitter_colour(rng, _choice(rng, HAIR_COLOURS), 0.08),
        eye_shape=_choice(rng, EYE_SHAPES),
        iris=_jitter_colour(rng, _choice(rng, IRIS_COLOURS), 0.1),
        brow_thickness=_choice(rng, BROW_THICKNESS),
        brow_shape=_choice(rng, BROW_SHAPES),
        nose=_choice(rng, NOSE_SHAPES),
        lips=_jitter_colour(rng, _choice(rng, LIP_COLOURS), 0.06),
        lip_thickness=_choice(rng, LIP_THICKNESS),
        glasses=glasses,
        facial_hair=facial_hair,
        background=_choice(rng, BACKGROUNDS),
        light=_choice(rng, LIGHTS),
        face_w=u(), face_h=u(), eye_spacing=u(), eye_height=u(), mouth_width=u(),
        nose_length=u(), brow_height=u(),
        bg_a=_random_colour(rng, (0.1, 0.6), (0.35, 0.95)),
        bg_b=_random_colour(rng, (0.1, 0.6), (0.2, 0.9)),
        shirt=_random_colour(rng, (0.2, 0.8), (0.2, 0.85)),
        glasses_colour=_choice(rng, ((20, 20, 20), (90, 60, 30), (160, 160, 170), (120, 20, 30))),
        light_strength=float(rng.uniform(0.25, 0.5)),
    )
