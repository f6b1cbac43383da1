"""Face-motion tracks in JSON: what `avatar render --motion` draws and `--motion-out` saves.

Two forms are read; the first is what ``save`` writes (one row a frame):

    {"fps": 25, "names": ["jawOpen", "eyeBlinkLeft", ...], "frames": [[0.1, 0.0, ...], ...]}

    [{"t": 0.0, "jawOpen": 0.0}, {"t": 0.4, "jawOpen": 0.6, "mouthSmileLeft": 0.3}]

Names are the face-motion vector's (core/face_motion.py); channels a track does not
name stay neutral. Keyframes are linear in between and hold outside, like expression
tracks. Values are clamped to each channel's range.
"""
import json
from pathlib import Path

import numpy as np

from avatar.core import face_motion
from avatar.core.errors import InputError
from avatar.core.expression_track import per_frame
from avatar.core.timebase import FPS


def _channel(name: str, where: str) -> int:
    if name not in face_motion.INDEX:
        raise InputError(f"{where}: unknown face-motion channel {name!r} (see docs/ROS.md or "
                         "avatar.core.face_motion.NAMES)")
    return face_motion.INDEX[name]


def _number(value, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value):
        raise InputError(f"{where}: {value!r} is not a finite number")
    return float(value)


def _from_rows(doc: dict) -> np.ndarray:
    names, rows = doc.get("names"), doc.get("frames")
    if not isinstance(names, list) or not isinstance(rows, list) or not rows:
        raise InputError("a motion track object needs \"names\" (list) and \"frames\" (non-empty list of rows)")
    if doc.get("fps", FPS) != FPS:
        raise InputError(f"motion track fps must be {FPS}, got {doc.get('fps')}")
    cols = [_channel(str(n), "motion track") for n in names]
    out = np.tile(face_motion.neutral(), (len(rows), 1))
    for i, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(cols):
            raise InputError(f"motion track frame {i}: expected {len(cols)} values")
        out[i, cols] = [_number(v, f"motion track frame {i}") for v in row]
    return out


def _from_keyframes(entries: list, n_frames: int | None) -> np.ndarray:
    times, vectors = [], []
    for i, entry in enumerate(entries):
        where = f"motion keyframe {i}"
        if not isinstance(entry, dict) or not isinstance(entry.get("t"), (int, float)) or entry["t"] < 0:
            raise InputError(f"{where}: needs \"t\" (seconds, >= 0)")
        vec = face_motion.neutral()
        for name, value in entry.items():
            if name != "t":
                vec[_channel(name, where)] = _number(value, where)
        times.append(float(entry["t"]))
        vectors.append(vec)
    order = np.argsort(times, kind="stable")
    times_a, vectors_a = np.asarray(times)[order], np.stack(vectors)[order]
    n = n_frames if n_frames is not None else int(np.floor(times_a[-1] * FPS)) + 1
    return per_frame(times_a, vectors_a, n, FPS)


def parse(doc, n_frames: int | None = None) -> np.ndarray:
    """(T, DIM) float32 clamped motion from a parsed JSON document."""
    if isinstance(doc, dict):
        motion = _from_rows(doc)
    elif isinstance(doc, list) and doc:
        motion = _from_keyframes(doc, n_frames)
    else:
        raise InputError("a motion track is {\"names\", \"frames\"} or a non-empty list of keyframes")
    return face_motion.clip(motion)


def load(path: Path, n_frames: int | None = None) -> np.ndarray:
    """(T, DIM) from a JSON file; keyframe tracks are sampled for ``n_frames`` (default: to the last key)."""
    try:
        doc = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputError(f"motion track not found: {path}") from None
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(f"motion track {path} is not readable JSON ({err})") from None
    return parse(doc, n_frames)


def save(path: Path, motion: np.ndarray) -> None:
    """Write (T, DIM) motion in the row form (4 decimals)."""
    rows = np.round(np.asarray(motion, np.float64), 4).tolist()
    Path(path).write_text(json.dumps({"fps": FPS, "names": list(face_motion.NAMES), "frames": rows}))
