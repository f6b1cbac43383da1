"""The offline entry point (StreamingEngine.render over FrameInputs) against the live driver fed the
same inputs as change points (what offline rendering did before): same frames, byte for byte."""
import numpy as np
import pytest

from avatar.core import face_motion as fm

from avatar.model_runtime.engine.offline import offline_engine
from avatar.model_runtime.engine.timeline import FrameInputs
from engine_fixtures import portrait, speech, tiny_engine, tiny_model


@pytest.fixture(scope="module")
def model():
    return tiny_model()


def _inputs(n: int = 47) -> FrameInputs:
    """Speech that ends mid-frame, state switches (one right after a clip start), a varying expression."""
    states = np.zeros(n, np.int64)
    states[9:30], states[30:31], states[31:] = 2, 1, 2
    expressions = np.zeros((n, 10), np.float32)
    expressions[:, 0] = np.linspace(0.0, 0.8, n)
    expressions[20:, 3] = 0.5
    return FrameInputs.of(speech(n * 0.04 - 0.013, seed=2), n, states, expressions)


def _through_live_driver(model, inputs: FrameInputs, seed: int):
    """The driver-thread path: audio written and closed, states and expressions as change points."""
    from avatar.model_runtime.engine.streaming import EngineConfig

    engine = tiny_engine(model, portrait(), EngineConfig(seed=seed))
    engine.write_audio(inputs.audio, 0)
    for f in np.flatnonzero(np.diff(inputs.states, prepend=-1)):
        engine.set_state(int(f), int(inputs.states[f]))
    for f in np.flatnonzero(np.any(np.diff(inputs.expressions, axis=0, prepend=np.nan) != 0, axis=1)):
        engine.set_expression(int(f), inputs.expressions[f])
    engine.close_audio()
    engine.start()
    try:
        return list(engine.frames())
    finally:
        engine.stop()


def _summary(frames):
    return [(f.index, f.clip, f.state, f.steps, f.degraded) for f in frames]


def test_render_gives_the_live_drivers_frames_byte_for_byte(model):
    inputs = _inputs()
    engine = tiny_engine(model, portrait())
    direct = list(engine.render(inputs))
    driven = _through_live_driver(model, inputs, seed=0)
    assert [f.index for f in direct] == list(range(inputs.n_frames))
    assert _summary(direct) == _summary(driven)
    assert len({f.clip for f in direct}) > 5                      # several clips, cut at the switches
    assert np.array_equal(np.stack([f.rgb for f in direct]), np.stack([f.rgb for f in driven]))
    assert np.array_equal(np.stack([f.motion for f in direct]), np.stack([f.motion for f in driven]))


def test_render_is_deterministic_per_seed_and_restarts_the_stream(model):
    inputs = _inputs(20)
    engine = tiny_engine(model, portrait())
    first = np.stack([f.rgb for f in engine.render(inputs)])
    again = np.stack([f.rgb for f in engine.render(inputs)])         # same engine: a fresh stream
    other = np.stack([f.rgb for f in tiny_engine(model, portrait(), None).render(inputs)])
    assert np.array_equal(first, again) and np.array_equal(first, other)
    from avatar.model_runtime.engine.streaming import EngineConfig
    reseeded = np.stack([f.rgb for f in tiny_engine(model, portrait(), EngineConfig(seed=1)).render(inputs)])
    assert not np.array_equal(first, reseeded)


def test_a_motion_track_is_drawn_as_given_and_its_last_row_held(model):
    from avatar.model_runtime.renderers.diffusion import DiffusionRenderer
    from avatar.model_runtime.engine.motion_source import ExplicitMotion

    n, rng = 12, np.random.default_rng(0)
    track = rng.random((8, fm.DIM)).astype(np.float32)              # shorter than the audio: last row holds
    base = _inputs(n)
    inputs = FrameInputs.of(base.audio, n, base.states, base.expressions, motion=track)
    engine = offline_engine(DiffusionRenderer(model), ExplicitMotion(), portrait(), steps=2, clip=8, framing="whole")
    motion = np.stack([f.motion for f in engine.render(inputs)])
    assert np.array_equal(motion[:8], track) and np.array_equal(motion[8:], np.repeat(track[-1:], 4, 0))


def test_inputs_of_pads_and_cuts_the_audio_and_checks_shapes():
    wave = np.ones(1000, np.float32)
    assert np.array_equal(FrameInputs.of(wave, 2, np.zeros(2)).audio, np.r_[wave, np.zeros(280, np.float32)])
    assert FrameInputs.of(wave, 1, np.zeros(1)).audio.size == 640
    with pytest.raises(ValueError, match="states"):
        FrameInputs.of(wave, 3, np.zeros(2))
    states = np.array([0, 0, 2, 2, 1])
    inputs = FrameInputs.of(wave, 5, states)
    assert [inputs.next_switch(f) for f in range(5)] == [2, 2, 4, 4, None]


def test_render_to_file_muxes_the_audio_the_engine_heard(model, tmp_path):
    import av

    from avatar.model_runtime.engine.motion_source import ExplicitMotion
    from avatar.model_runtime.engine.render import RenderJob, job_inputs, render_to_file
    from avatar.model_runtime.renderers.diffusion import DiffusionRenderer

    job = RenderJob(image=portrait(), speech=speech(1.23, seed=5), states="speaking", framing="whole")
    heard = job_inputs(job).audio                                              # (T * 640,) padded
    stats = render_to_file(DiffusionRenderer(model), ExplicitMotion(), job, tmp_path / "out.mp4")
    with av.open(str(tmp_path / "out.mp4")) as container:
        frames = sum(1 for _ in container.decode(video=0))
    with av.open(str(tmp_path / "out.mp4")) as container:
        audio = np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])   # (S,)
    n = stats.frames
    assert n == frames == len(heard) // 640 == 31
    assert abs(len(audio) - len(heard)) < 0.05 * 16000
    # AAC is lossy: the loudness of each frame's audio follows what the engine heard.
    rms = lambda a: np.sqrt(np.mean(a[:n * 640].reshape(n, 640) ** 2, axis=1))   # noqa: E731
    assert np.corrcoef(rms(heard), rms(np.pad(audio, (0, max(0, n * 640 - len(audio))))))[0, 1] > 0.9
