"""Convert talking-head videos into the corpus format, without ground truth.

Each video becomes one identity. Faces are found with OpenCV's frontal-face
Haar cascade (``haar.py``: OpenCV 5 no longer bundles the detector) on a
downscaled copy of every 5th frame; the box track is interpolated, cleaned
(median) and smoothed (Gaussian, 0.3 s) so the square crop does not jitter.
Video is resampled to 25 fps (latest source frame at each output time) and
audio to 16 kHz mono; long videos are cut into clips of at most 12 s.
gt.json has "frames": {} and a single "unknown" segment. Everything goes to
the train split.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import av
import cv2
import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from avatar.core.errors import InputError
from avatar.core.timebase import FPS, SAMPLE_RATE
from avatar.core.timebase import SAMPLES_PER_FRAME as HOP

from .haar import HaarCascade
from .writer import write_json, write_video, write_wav

MAX_CLIP_S = 12.0
DETECT_WIDTH = 160
DETECT_EVERY = 5          # source frames; the track is smoothed over 0.3 s anyway
VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".webm", ".avi")


@dataclass
class FaceTrack:
    cx: np.ndarray     # (T,) crop centre x, source pixels
    cy: np.ndarray
    side: np.ndarray   # (T,) crop side


def _frame_times(path: Path) -> tuple[list[float], list[np.ndarray | None]]:
    """Pass 1: source frame times and the face box (x, y, w, h) where one was searched and found."""
    cascade = HaarCascade()
    times, boxes = [], []
    with av.open(str(path)) as container:
        for j, frame in enumerate(container.decode(video=0)):
            times.append(float(frame.time if frame.time is not None else j / FPS))
            boxes.append(None)
            if j % DETECT_EVERY:
                continue
            gray = frame.to_ndarray(format="gray")
            scale = min(1.0, DETECT_WIDTH / gray.shape[1])
            small = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
            found = cascade.detect(small, min_neighbors=3, min_size=int(0.2 * min(small.shape)))
            if len(found):
                boxes[-1] = max(found, key=lambda b: b[2] * b[3]).astype(np.float64) / scale
    return times, boxes


def _track(times: list[float], boxes: list, n_out: int, name: str) -> tuple[FaceTrack, np.ndarray]:
    """Output-frame -> source-frame index, and a smoothed crop track."""
    t_out = np.arange(n_out) / FPS
    src = np.clip(np.searchsorted(np.asarray(times), t_out + 1e-6, side="right") - 1, 0,
                  len(times) - 1)
    hits = [j for j, b in enumerate(boxes) if b is not None]
    if not hits:
        raise InputError(f"{name}: no face found by the Haar cascade")
    t_hit = np.asarray(times)[hits]
    raw = np.array([boxes[j] for j in hits])
    t_src = np.asarray(times)[src]
    cx = np.interp(t_src, t_hit, raw[:, 0] + raw[:, 2] / 2)
    cy = np.interp(t_src, t_hit, raw[:, 1] + raw[:, 3] / 2)
    w = np.interp(t_src, t_hit, raw[:, 2])
    smooth = lambda v: gaussian_filter1d(median_filter(v, size=9, mode="nearest"),  # noqa: E731
                                         0.3 * FPS, mode="nearest")
    side = smooth(w) * 2.2            # Haar box ~ brows to chin; head + shoulders as in the corpus
    return FaceTrack(smooth(cx), smooth(cy) - 0.05 * side, side), src


def _crop(img: np.ndarray, cx: float, cy: float, side: float, size: int) -> np.ndarray:
    s = size / side
    m = np.array([[s, 0, size / 2 - s * cx], [0, s, size / 2 - s * cy]], np.float64)
    return cv2.warpAffine(img, m, (size, size), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)


def _frames(path: Path, src: np.ndarray, track: FaceTrack, size: int, start: int, stop: int):
    """Pass 2: yield cropped RGB frames for output frames [start, stop)."""
    want = {}
    for k in range(start, stop):
        want.setdefault(int(src[k]), []).append(k)
    last = max(want)
    with av.open(str(path)) as container:
        for j, frame in enumerate(container.decode(video=0)):
            if j in want:
                img = frame.to_ndarray(format="rgb24")
                for k in want[j]:
                    yield _crop(img, track.cx[k], track.cy[k], track.side[k], size)
            if j >= last:
                break


def load_audio(path: Path) -> np.ndarray:
    """Whole audio track as float32 mono at 16 kHz."""
    chunks = []
    with av.open(str(path)) as container:
        if not container.streams.audio:
            raise InputError(f"{path.name}: no audio track")
        resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        for frame in container.decode(audio=0):
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))
        for out in resampler.resample(None):
            chunks.append(out.to_ndarray().reshape(-1))
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, np.int16)
    return pcm.astype(np.float32) / 32768.0


def _convert(path: Path, out: Path, size: int) -> tuple[str, list[str], int]:
    ident = re.sub(r"[^A-Za-z0-9_-]", "_", path.stem)
    times, boxes = _frame_times(path)
    if not times:
        raise InputError(f"{path.name}: no video frames")
    audio = load_audio(path)
    n_out = int(min(times[-1] + 1.0 / FPS, len(audio) / SAMPLE_RATE) * FPS)
    if n_out < FPS:
        raise InputError(f"{path.name}: shorter than one second of video with audio")
    track, src = _track(times, boxes, n_out, path.name)
    n_clips = int(np.ceil(n_out / (MAX_CLIP_S * FPS)))
    edges = np.linspace(0, n_out, n_clips + 1).astype(int)
    clips = []
    for k, (a, b) in enumerate(zip(edges[:-1], edges[1:])):
        clip_id = f"{ident}_{k:03d}"
        folder = out / "train" / clip_id
        folder.mkdir(parents=True)
        n = write_video(folder / "video.mp4", _frames(path, src, track, size, a, b), FPS)
        wave = np.zeros(n * HOP, np.float32)
        part = audio[a * HOP:b * HOP]
        wave[:len(part)] = part
        write_wav(folder / "speech.wav", wave, SAMPLE_RATE)
        write_wav(folder / "user.wav", np.zeros_like(wave), SAMPLE_RATE)
        write_json(folder / "gt.json", {
            "identity": ident, "fps": FPS, "n_frames": n, "sentences": [],
            "segments": [{"start": 0.0, "end": round(n / FPS, 4), "state": "unknown"}],
            "frames": {}, "source": {"video": path.name, "start_s": round(a / FPS, 4)}})
        clips.append(clip_id)
    first = next(_frames(path, src, track, size, 0, 1))
    (out / "identities").mkdir(exist_ok=True)
    cv2.imwrite(str(out / "identities" / f"{ident}.png"), cv2.cvtColor(first, cv2.COLOR_RGB2BGR))
    write_json(out / "identities" / f"{ident}.json", {"name": ident, "source": path.name})
    return ident, clips, n_out


def import_videos(video_dir: str, out_dir: str, size: int = 256) -> dict:
    src, out = Path(video_dir), Path(out_dir)
    if not src.is_dir():
        raise InputError(f"--from-videos {src} is not a directory")
    videos = sorted(p for p in src.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES)
    if not videos:
        raise InputError(f"no videos ({', '.join(VIDEO_SUFFIXES)}) in {src}")
    if not (64 <= size <= 1024 and size % 8 == 0):
        raise InputError(f"--size must be a multiple of 8 in 64..1024, got {size}")
    if out.exists() and any(out.iterdir()):
        raise InputError(f"--out {out} is not empty")
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    idents, clips, frames = [], [], 0
    for path in videos:
        ident, ids, n = _convert(path, out, size)
        idents.append(ident)
        clips += ids
        frames += n
    meta = {
        "version": 1, "seed": None, "size": size, "fps": FPS, "sample_rate": SAMPLE_RATE,
        "hours": round(frames / FPS / 3600.0, 4), "source": "videos",
        "splits": {"train": clips, "val": [], "test": []},
        "identities": {"train": idents, "val": [], "test": []},
        "render_stats": {"videos": len(videos), "clips": len(clips), "frames": frames,
                         "wall_s": round(time.perf_counter() - t0, 2)},
    }
    write_json(out / "meta.json", meta)
    return meta
