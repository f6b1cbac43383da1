"""Expression tracks for offline rendering: keyframes in a JSON file -> one control vector per frame.

    [{"t": 0.0, "expression": "neutral"},
     {"t": 1.5, "expression": "happy"},
     {"t": 4.0, "smile": 0.2, "brow_raise": 0.6}]

Each keyframe gives the full control vector at time ``t`` (seconds): a named ROS4HRI
expression, or NAME=VALUE controls over neutral. Between keyframes the vector moves
linearly (no jumps, like the live expression_control); before the first and after the
last it holds.
"""
import json
from pathlib import Path

import numpy as np

from avatar.core.errors import InputError
from avatar.core.expression import INDEX, checked_control, neutral_vector
from avatar.core.timebase import FPS


def _keyframe_vector(entry: dict, where: str) -> np.ndarray:
    from avatar.core.expression_mapping import named_expression
    controls = {k: v for k, v in entry.items() if k not in ("t", "expression")}
    if "expression" in entry:
        if controls:
            raise InputError(f"{where}: give either \"expression\" or controls, not both")
        return np.asarray(named_expression(str(entry["expression"])), np.float32)
    vector = np.asarray(neutral_vector(), np.float32)
    for name, value in controls.items():
        try:
            vector[INDEX[name]] = checked_control(name, value)
        except InputError as err:
            raise InputError(f"{where}: {err}") from None
    return vector


def parse_track(entries) -> tuple[np.ndarray, np.ndarray]:
    """Keyframe list -> (times (K,), vectors (K, DIM)), sorted by time."""
    if not isinstance(entries, list) or not entries:
        raise InputError("an expression track is a non-empty JSON list of keyframes")
    times, vectors = [], []
    for i, entry in enumerate(entries):
        where = f"keyframe {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("t"), (int, float)) or entry["t"] < 0:
            raise InputError(f"{where}: needs \"t\" (seconds, >= 0)")
        times.append(float(entry["t"]))
        vectors.append(_keyframe_vector(entry, where))
    order = np.argsort(times, kind="stable")
    return np.asarray(times)[order], np.stack(vectors)[order]


def load_track(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        entries = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"expression track not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"expression track {path} is not valid JSON ({err})") from None
    return parse_track(entries)


def per_frame(times: np.ndarray, vectors: np.ndarray, n_frames: int, fps: float = FPS) -> np.ndarray:
    """(n_frames, DIM) float32: the track sampled at each frame's start, linear between keyframes."""
    t = np.arange(n_frames) / fps
    return np.stack([np.interp(t, times, vectors[:, j]) for j in range(vectors.shape[1])], 1).astype(np.float32)
