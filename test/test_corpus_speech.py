"""espeak-ng through ctypes, the sentence generator and the viseme tracks."""
import numpy as np
import pytest

from avatar.core.errors import AvatarError
from avatar.model_runtime.corpus import sentences, speech
from avatar.model_runtime.corpus.espeak import ESPEAK_SAMPLE_RATE, Espeak, SpeechParams, Voice
from avatar.model_runtime.corpus.visemes import mouth_tracks, visemes_for


def test_phoneme_events_line_up_with_audio_length():
    params = SpeechParams(Voice("gmw/en-US", "m3"), rate=180, pitch=50)
    out = Espeak.instance().synth("Please bring the map to the station tomorrow.", params)
    times = [t for t, _ in out.phonemes]
    assert times == sorted(times) and len(times) > 20
    # without an echo variant the last event sits exactly on the last sample
    assert times[-1] * ESPEAK_SAMPLE_RATE == pytest.approx(len(out.wave), abs=1)
    names = {p for _, p in out.phonemes}
    assert {"p", "b", "m"} <= names and not any(p.startswith("'") for p in names)


def test_every_corpus_voice_loads_and_speaks():
    for voice in speech.all_voices():
        utt = speech.speak("Hello.", SpeechParams(voice, rate=200))
        assert 0.2 < utt.duration < 2.0, voice
        assert abs(utt.wave).max() == pytest.approx(0.7, abs=1e-3)


def test_bad_voice_and_rate_raise():
    with pytest.raises(AvatarError):
        Espeak.instance().synth("x", SpeechParams(Voice("gmw/en-US", "no_such_variant")))
    with pytest.raises(AvatarError):
        Espeak.instance().synth("x", SpeechParams(Voice("gmw/en-US", "m1"), rate=450))


def test_resampled_speech_keeps_event_times():
    utt = speech.speak("Oh, you found the red ticket!", SpeechParams(Voice("gmw/en", "m1")))
    assert utt.phonemes[-1][0] * speech.SAMPLE_RATE == pytest.approx(len(utt.wave), abs=2)


def test_sentence_generator_is_rich_and_splits_are_stable():
    rng = np.random.default_rng(0)
    texts = {sentences.generate(rng) for _ in range(3000)}
    assert len(texts) > 2900 and sentences.count_sentences() > 1_000_000
    fractions = np.mean([[sentences.split_of(t) == s for s in sentences.SPLITS] for t in texts], 0)
    assert fractions == pytest.approx([0.9, 0.05, 0.05], abs=0.02)
    rng = np.random.default_rng(1)
    assert all(sentences.split_of(sentences.generate_for_split(rng, "test")) == "test"
               for _ in range(20))


def test_visemes_close_lips_on_bilabials_and_open_on_vowels():
    # "ma ma": the lips close for m and open wide for a
    events = [(0.0, "_"), (0.10, "m"), (0.20, "a"), (0.40, "m"), (0.50, "a"), (0.70, "_")]
    track = mouth_tracks([(0.0, events, 0.9)], n_frames=25, fps=25)["aperture"]
    frame = lambda t: int(t * 25)  # noqa: E731
    assert track[frame(0.15)] < 0.15 and track[frame(0.30)] > 0.6
    assert track[frame(0.45)] < 0.2 and track[frame(0.60)] > 0.6
    assert track[frame(0.85)] < 0.1 and track[-1] < 0.02
    assert visemes_for("u:")[0].rounding > 0.8 and visemes_for("i:")[0].width > 1.1
    assert len(visemes_for("aI")) == 2 and visemes_for("@2") == visemes_for("@")


def test_p_onset_moves_to_the_closure():
    # /p/'s event is at the release, /b/'s at the closure: the same event time
    # must shut the lips earlier for p
    def track(stop):
        events = [(0.0, "a"), (0.30, stop), (0.36, "a"), (0.6, "_")]
        return mouth_tracks([(0.0, events, 0.7)], n_frames=140, fps=200)["aperture"]
    p, b = track("p"), track("b")
    assert p[int(0.27 * 200)] < 0.1 < b[int(0.27 * 200)]
    assert p[int(0.33 * 200)] < 0.1 and b[int(0.33 * 200)] < 0.1
