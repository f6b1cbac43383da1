"""core.vad: hysteresis rules, silero on real espeak speech, any chunking/rate/channels, stream gaps."""
import numpy as np
import pytest

from avatar.core.audio_io import SAMPLE_RATE, iter_chunks, resample
from avatar.core.errors import InputError
from avatar.core.vad import WINDOW_S, ChannelVad, Hysteresis, SileroModel, VadConfig, speech_intervals
from avatar.core.vad_eval import espeak, trim


@pytest.fixture(scope="module")
def model():
    return SileroModel()


@pytest.fixture(scope="module")
def utterance():
    """1 s of silence, a real espeak sentence, 1 s of silence; and where the sentence is."""
    x = trim(espeak("Good morning, my name is Ada. How can I help you?", "en-us", 165, 45))
    pad = np.zeros(SAMPLE_RATE, np.float32)
    return np.concatenate([pad, x, pad]), (1.0, 1.0 + len(x) / SAMPLE_RATE)


def _run(h: Hysteresis, probs):
    return [h.update(p) for p in probs]


def test_hysteresis_min_speech_and_hangover_in_windows():
    cfg = VadConfig(onset=0.6, offset=0.3, min_speech_s=3 * WINDOW_S, hangover_s=2 * WINDOW_S)
    h = Hysteresis(cfg)
    # Two windows above onset are not enough; three are. Values between thresholds keep speech on.
    assert _run(h, [0.9, 0.9, 0.1, 0.9, 0.9, 0.9]) == [False] * 5 + [True]
    assert _run(h, [0.5, 0.2, 0.5, 0.2, 0.2, 0.9]) == [True] * 4 + [False, False]
    h.reset()
    assert not h.speech and _run(h, [0.9]) == [False]


def test_hysteresis_rounds_durations_to_whole_windows():
    h = Hysteresis(VadConfig(min_speech_s=0.064, hangover_s=0.064))
    assert _run(h, [0.9, 0.9, 0.0, 0.0]) == [False, True, True, False]


@pytest.mark.parametrize("kwargs", [dict(onset=0.3, offset=0.5), dict(onset=1.0), dict(offset=0.0),
                                    dict(hangover_s=-1.0), dict(max_gap_s=0.0)])
def test_bad_config_is_an_input_error(kwargs):
    with pytest.raises(InputError):
        VadConfig(**kwargs)


def test_silero_separates_speech_from_silence_and_noise(model, utterance):
    x, (a, b) = utterance
    rng = np.random.default_rng(0)
    noise = 0.01 * rng.standard_normal(len(x)).astype(np.float32)
    probs = []
    model.reset()
    for w in iter_chunks(x + noise, 512, pad=False):
        probs.append(model(w))
    t = (np.arange(len(probs)) + 1) * WINDOW_S
    inside = (t > a + 0.3) & (t < b - 0.3)
    outside = (t < a - 0.1) | (t > b + 0.3)
    assert np.mean(np.array(probs)[inside] > 0.5) > 0.8
    assert np.mean(np.array(probs)[outside] < 0.2) > 0.95


def _decisions(vad: ChannelVad, x16: np.ndarray, rate: int, piece_s: float):
    x = resample(x16, SAMPLE_RATE, rate)
    n = max(1, int(piece_s * rate))
    out = []
    for start in range(0, len(x), n):
        out += vad.push(x[start:start + n], rate, start / rate)
    return out


@pytest.mark.parametrize("rate,piece_s", [(16000, 0.02), (48000, 0.01), (44100, 0.5), (8000, 0.032),
                                          (22050, 0.003)])
def test_channel_vad_handles_any_rate_and_chunk_size(model, utterance, rate, piece_s):
    x, (a, b) = utterance
    ref = _decisions(ChannelVad(VadConfig(), model), x, SAMPLE_RATE, 0.02)
    got = _decisions(ChannelVad(VadConfig(), model), x, rate, piece_s)
    assert abs(len(got) - len(ref)) <= 2
    ends = np.array([d.end for d in got])
    assert np.all(np.diff(ends) > 0) and np.allclose(np.diff(ends), WINDOW_S, atol=2e-3)
    (ga, gb), = speech_intervals(got, VadConfig(), aligned=True)
    # Within two windows of the reference run and of the truth, whatever the input format.
    (ra, rb), = speech_intervals(ref, VadConfig(), aligned=True)
    assert abs(ga - ra) < 0.07 and abs(gb - rb) < 0.07
    assert abs(ga - a) < 0.1 and abs(gb - b) < 0.15


def test_window_stamps_follow_chunk_stamps(model):
    vad = ChannelVad(VadConfig(), model)
    out = vad.push(np.zeros(1000, np.float32), SAMPLE_RATE, 100.0)
    assert [round(d.end, 4) for d in out] == [100.032, 100.064, 100.096, 100.128][:len(out)] == [
        round(100.0 + (k + 1) * 512 / 16000, 4) for k in range(len(out))]
    # 1000 - 3 * 512 = 488 samples wait; 24 more complete the next window.
    more = vad.push(np.zeros(24, np.float32), SAMPLE_RATE, 100.0625)
    assert len(more) == 1 and abs(more[0].end - 100.064) < 1e-9


def test_gap_in_stamps_starts_a_new_stream(model, utterance):
    x, _ = utterance
    cfg = VadConfig()
    vad = ChannelVad(cfg, model)
    speech = x[int(1.3 * SAMPLE_RATE):int(2.3 * SAMPLE_RATE)]
    decisions = vad.push(speech, SAMPLE_RATE, 10.0)
    assert decisions[-1].speech
    # 2 s later, silence: a fresh stream whose first window ends 32 ms after the new stamp.
    later = vad.push(np.zeros(600, np.float32), SAMPLE_RATE, 13.0)
    assert abs(later[0].end - (13.0 + WINDOW_S)) < 1e-9 and not later[0].speech
    # Jitter of a few ms is not a gap.
    vad2 = ChannelVad(cfg, model)
    a = vad2.push(speech[:8000], SAMPLE_RATE, 0.0)
    b = vad2.push(speech[8000:], SAMPLE_RATE, 0.503)
    assert a[-1].speech and b[0].speech


def test_aligned_intervals_move_boundaries_back(model, utterance):
    x, (a, b) = utterance
    vad = ChannelVad(VadConfig(), model)
    ds = []
    for k, piece in enumerate(iter_chunks(x, 320)):
        ds += vad.push(piece, SAMPLE_RATE, k * 0.02)
    (ca, cb), = speech_intervals(ds, VadConfig())
    (aa, ab), = speech_intervals(ds, VadConfig(), aligned=True)
    assert aa <= ca and ab < cb
    assert cb - b > VadConfig().hangover_s            # the live end waits for the hangover
    assert abs(aa - a) < 0.08 and abs(ab - b) < 0.12   # the aligned one does not


@pytest.mark.parametrize("kind", ["white", "pink"])
def test_add_noise_hits_the_requested_snr(utterance, kind):
    from avatar.core.vad_eval import add_noise
    x, turn = utterance
    y = add_noise(x, [turn], 10.0, kind, np.random.default_rng(0))
    a, b = (int(t * SAMPLE_RATE) for t in turn)
    noise = y - x
    snr = 10 * np.log10(np.mean(x[a:b].astype(np.float64) ** 2) / np.mean(noise ** 2))
    assert snr == pytest.approx(10.0, abs=0.05)
    spectrum = np.abs(np.fft.rfft(noise)) ** 2
    f = np.fft.rfftfreq(len(noise), 1 / SAMPLE_RATE)
    low, high = spectrum[(f > 100) & (f < 200)].mean(), spectrum[(f > 4000) & (f < 8000)].mean()
    assert (low / high > 10) if kind == "pink" else (0.5 < low / high < 2)
