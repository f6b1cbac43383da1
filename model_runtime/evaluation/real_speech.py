"""Real photos talking on real speech, measured from outside with the face mesh (any portrait, `avatar eval --real-speech`).

Each (portrait, recording) pair is rendered by the same engine as `avatar render` (states from
voice activity, the default motion source and renderer), and the output frames are measured
with mediapipe's face mesh, a detector trained on real faces that the renderer never sees:

* lip sync: the inner-lip aperture (5 lip pairs / iris distance) against the speech loudness
  envelope, r and best lag (frames; > 0 means the mouth is late);
* stillness: mean |Δ aperture| in silent frames relative to speech frames;
* blinks a minute, from the lid aperture's dips;
* pixels outside the face: PSNR of the frames against the portrait outside the paste box.

The recordings are real human speech shipped by Debian packages (scripts/setup.sh installs
them): LibriVox readings from pocketsphinx-testdata (public domain, package BSD-2) and a
speech sample from codec2-examples (LGPL-2.1).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from avatar.core.audio_io import load_audio
from avatar.core.timebase import FPS, SAMPLE_RATE
from avatar.model_runtime.evaluation.metrics import audio_envelope, lagged_correlation

_LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
REAL_SPEECH: tuple[Path, ...] = (
    *(_LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{n}.wav" for n in ("0870", "0890", "0920")),
    Path("/usr/share/codec2/raw/speech_orig_16k.wav"),
)

# mediapipe face-mesh indices: inner-lip pairs (upper, lower), lid pairs per eye, eye corners,
# iris centres (refine_landmarks=True).
LIP_PAIRS = ((13, 14), (82, 87), (81, 178), (312, 317), (311, 402))
LID_PAIRS = (((159, 145), (158, 153), (160, 144)), ((386, 374), (385, 380), (387, 373)))
EYE_CORNERS = ((33, 133), (362, 263))
IRISES = (468, 473)


@dataclass(frozen=True)
class FaceSignals:
    lips: np.ndarray        # (T,) inner-lip aperture / iris distance; NaN where no face was found
    lids: np.ndarray        # (T,) mean lid gap / eye width over both eyes


def mesh_signals(frames: np.ndarray) -> FaceSignals:
    """Face mesh (video mode: it tracks between frames) on (T, H, W, 3) RGB frames."""
    import mediapipe as mp

    from avatar.model_runtime.mediapipe_compat import quiet_native_stderr

    lips, lids = np.full(len(frames), np.nan), np.full(len(frames), np.nan)
    with quiet_native_stderr():
        mesh = mp.solutions.face_mesh.FaceMesh(static_image_mode=False, refine_landmarks=True, max_num_faces=1)
    try:
        for t, frame in enumerate(frames):
            with quiet_native_stderr():
                result = mesh.process(np.ascontiguousarray(frame))
            if not result.multi_face_landmarks:
                continue
            p = np.array([(q.x * frame.shape[1], q.y * frame.shape[0])
                          for q in result.multi_face_landmarks[0].landmark])     # (478, 2) pixels
            iris = np.linalg.norm(p[IRISES[0]] - p[IRISES[1]])
            lips[t] = np.mean([np.linalg.norm(p[a] - p[b]) for a, b in LIP_PAIRS]) / iris
            lids[t] = np.mean([np.mean([np.linalg.norm(p[a] - p[b]) for a, b in eye])
                               / np.linalg.norm(p[c0] - p[c1])
                               for eye, (c0, c1) in zip(LID_PAIRS, EYE_CORNERS)])
    finally:
        mesh.close()
    return FaceSignals(lips, lids)


def blinks(lids: np.ndarray, drop: float = 0.55) -> int:
    """Dips of the lid aperture below ``drop`` x its median, each counted once."""
    x = np.nan_to_num(lids, nan=np.nanmedian(lids))
    closed = x < drop * np.median(x)
    return int(np.sum(closed[1:] & ~closed[:-1]) + closed[0])


def speech_track(recording: np.ndarray, pause_s: float = 2.0) -> np.ndarray:
    """Silence, the recording, a pause, the recording again, silence: speech and silence to compare."""
    gap = np.zeros(int(pause_s * SAMPLE_RATE), np.float32)
    return np.concatenate([gap[:SAMPLE_RATE], recording, gap, recording, gap]).astype(np.float32)


def outside_psnr(frames: np.ndarray, portrait: np.ndarray, box: tuple[int, int, int, int]) -> float:
    """PSNR (dB) of the frames against the portrait outside the paste box (inf when identical)."""
    x0, y0, x1, y1 = box
    keep = np.ones(portrait.shape[:2], bool)
    keep[y0:y1, x0:x1] = False
    err = np.mean((frames[:, keep].astype(np.float64) - portrait[keep].astype(np.float64)) ** 2)
    return float("inf") if err == 0 else float(10 * np.log10(255.0 ** 2 / err))


def score(frames: np.ndarray, speech: np.ndarray) -> dict:
    """Lip sync, stillness and blink rate of rendered frames against the speech they show."""
    signals = mesh_signals(frames)
    n = len(frames)
    env = audio_envelope(speech, n)
    lips = signals.lips
    found = np.isfinite(lips)
    lips = np.where(found, lips, np.nanmedian(lips))
    sync = lagged_correlation(lips, env, max_lag=5)
    loud, quiet = env > 0.35 * env.max(), env < 0.1 * env.max()
    motion = np.abs(np.diff(lips))
    speaking, silent = motion[loud[1:] & loud[:-1]], motion[quiet[1:] & quiet[:-1]]
    return {
        "frames": n, "face_found": float(found.mean()),
        "sync_r": sync.r, "sync_lag": sync.lag, "sync_r_lag0": sync.r_lag0,
        "silence_motion_ratio": float(silent.mean() / max(speaking.mean(), 1e-9)) if len(silent) else None,
        "blinks_per_min": blinks(signals.lids) * 60.0 * FPS / n,
    }


def evaluate_pair(engine_factory, portrait: np.ndarray, recording: Path) -> dict:
    """Render ``portrait`` speaking ``recording`` (twice, with pauses) and score the frames.
    ``engine_factory(image, speech) -> (StreamingEngine, FrameInputs)`` (offline, states decided by VAD)."""
    from avatar.model_runtime.engine.offline import render_frames

    speech = speech_track(load_audio(recording))
    engine, inputs = engine_factory(portrait, speech)
    face = engine.prepare_face(portrait)
    frames = render_frames(engine, inputs)
    row = score(frames, speech)
    row["outside_psnr_db"] = outside_psnr(frames, face.portrait.image, face.aligned.region.box)
    row["recording"] = recording.name
    return row


def installed_portraits() -> dict[str, np.ndarray]:
    """Real photos that ship in installed wheels, plus the bundled drawing."""
    import matplotlib.cbook
    import skimage.data

    from avatar.core.image_io import load_image
    from avatar.core.paths import asset

    with matplotlib.cbook.get_sample_data("grace_hopper.jpg") as f:
        hopper = load_image(Path(f.name))
    return {"astronaut": skimage.data.astronaut(), "grace_hopper": hopper,
            "bundled_drawing": load_image(asset("portrait.png"))}


def evaluate(renderer, motion, portraits: dict[str, np.ndarray], recordings=REAL_SPEECH, steps: int = 2,
             max_side: int = 1024) -> dict:
    """Every portrait on every recording; rows and their means."""
    from avatar.model_runtime.engine.offline import offline_engine
    from avatar.model_runtime.engine.render import RenderJob, job_inputs
    from avatar.model_runtime.portrait import PortraitCache

    missing = [str(p) for p in recordings if not Path(p).is_file()]
    if missing:
        from avatar.core.errors import InputError
        raise InputError(f"real speech not installed ({missing[0]}): run scripts/setup.sh")
    cache = PortraitCache(max_side)

    def factory(image, speech):
        inputs = job_inputs(RenderJob(image=image, speech=speech))
        return offline_engine(renderer, motion, image, steps, max_side=max_side, portraits=cache), inputs

    rows = []
    for name, image in portraits.items():
        for rec in recordings:
            row = evaluate_pair(factory, image, Path(rec))
            row["portrait"] = name
            rows.append(row)
    keys = ("sync_r", "sync_r_lag0", "silence_motion_ratio", "blinks_per_min", "face_found")
    mean = {k: float(np.mean([r[k] for r in rows if r[k] is not None])) for k in keys}
    mean["sync_lag_median"] = float(np.median([r["sync_lag"] for r in rows]))
    mean["outside_psnr_db_min"] = min(r["outside_psnr_db"] for r in rows)
    return {"rows": rows, "mean": mean, "renderer": renderer.name, "steps": steps}
