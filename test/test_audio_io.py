"""core.audio_io: decoding every supported file kind, conversions, and a table of bad inputs."""
import subprocess

import numpy as np
import pytest
import soundfile as sf

from avatar.core.audio_io import (CHUNK_SAMPLES, Rechunker, StreamResampler, from_int16, iter_chunks,
                                  load_audio, pcm16_to_mono, read_audio_file, resample, save_wav, to_int16)
from avatar.core.errors import InputError


def _tone(rate: int, seconds: float = 0.5, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def _ffmpeg(args: list[str]) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.mark.parametrize("rate,channels,subtype", [
    (16000, 1, "PCM_16"), (44100, 2, "PCM_16"), (48000, 2, "PCM_24"), (8000, 1, "PCM_U8"),
    (22050, 3, "PCM_32"), (32000, 1, "FLOAT"), (96000, 2, "DOUBLE"), (11025, 6, "PCM_16"),
])
def test_wav_any_rate_channels_and_bit_depth(tmp_path, rate, channels, subtype):
    mono = _tone(rate)
    path = tmp_path / "x.wav"
    sf.write(path, np.repeat(mono[:, None], channels, axis=1), rate, subtype=subtype)
    x = load_audio(path)
    assert x.dtype == np.float32 and x.ndim == 1
    assert len(x) == -(-len(mono) * 16000 // rate)   # ceil
    assert abs(_peak_hz(x, 16000) - 440.0) < 5.0
    # Downmixing identical channels keeps the level; 8-bit costs a little precision.
    assert abs(np.abs(x[1000:-1000]).max() - 0.5) < 0.02


@pytest.mark.parametrize("fmt,ext", [("FLAC", "flac"), ("OGG", "ogg"), ("MP3", "mp3")])
def test_compressed_formats_through_soundfile(tmp_path, fmt, ext):
    path = tmp_path / f"x.{ext}"
    sf.write(path, _tone(44100, 1.0), 44100, format=fmt)
    x = load_audio(path)
    assert abs(len(x) - 16000) < 1200   # MP3 adds encoder padding
    assert abs(_peak_hz(x, 16000) - 440.0) < 5.0


def test_m4a_and_video_container_through_pyav(tmp_path):
    wav = tmp_path / "x.wav"
    sf.write(wav, _tone(48000, 1.0), 48000)
    m4a = tmp_path / "x.m4a"
    _ffmpeg(["-i", str(wav), "-c:a", "aac", str(m4a)])
    mp4 = tmp_path / "x.mp4"
    _ffmpeg(["-f", "lavfi", "-i", "testsrc=size=64x64:rate=25:duration=1", "-i", str(wav),
             "-c:v", "libx264", "-c:a", "aac", "-shortest", str(mp4)])
    for path in (m4a, mp4):
        x = load_audio(path)
        assert abs(len(x) - 16000) < 800
        assert abs(_peak_hz(x, 16000) - 440.0) < 5.0


def test_native_read_keeps_channels_and_rate(tmp_path):
    path = tmp_path / "x.wav"
    stereo = np.stack([_tone(22050), -_tone(22050)], axis=1)
    sf.write(path, stereo, 22050, subtype="PCM_16")
    x, rate = read_audio_file(path)
    assert rate == 22050 and x.shape == stereo.shape
    assert np.allclose(load_audio(path, sample_rate=22050), 0.0, atol=1e-4)   # L + (-L) cancels


def _write_float(tmp_path, name, values):
    path = tmp_path / name
    sf.write(path, np.asarray(values, np.float32), 16000, subtype="FLOAT")
    return path


def _bad_inputs(tmp_path):
    good = tmp_path / "good.wav"
    sf.write(good, _tone(16000, 1.0), 16000, subtype="PCM_16")
    data = good.read_bytes()
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "text.wav").write_text("this is not audio\n")
    (tmp_path / "header_only.wav").write_bytes(data[:44])
    (tmp_path / "truncated.wav").write_bytes(data[:1000])
    (tmp_path / "noise.mp3").write_bytes(np.random.default_rng(0).bytes(4000))
    (tmp_path / "adir").mkdir()
    _ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x32:rate=5:duration=1", str(tmp_path / "video_only.mp4")])
    tone = _tone(16000, 0.2)
    return {
        "missing": (tmp_path / "nope.wav", "not found"),
        "directory": (tmp_path / "adir", "directory"),
        "empty": (tmp_path / "empty.wav", "empty"),
        "text": (tmp_path / "text.wav", "cannot decode"),
        "header_only": (tmp_path / "header_only.wav", "no audio samples"),
        "truncated": (tmp_path / "truncated.wav", "truncated"),
        "random_bytes": (tmp_path / "noise.mp3", "cannot decode"),
        "video_only": (tmp_path / "video_only.mp4", "no audio stream"),
        "nan": (_write_float(tmp_path, "nan.wav", np.where(np.arange(len(tone)) == 50, np.nan, tone)), "NaN"),
        "inf": (_write_float(tmp_path, "inf.wav", np.where(np.arange(len(tone)) == 9, np.inf, tone)), "infinite"),
    }


def test_bad_inputs_raise_one_line_input_error(tmp_path):
    for name, (path, expected) in _bad_inputs(tmp_path).items():
        with pytest.raises(InputError) as info:
            load_audio(path)
        message = str(info.value)
        assert expected in message, (name, message)
        assert "\n" not in message and len(message) < 300, name


@pytest.mark.parametrize("rate", [0, -16000, 10**9, 16000.5])
def test_bad_target_rate(tmp_path, rate):
    path = tmp_path / "x.wav"
    save_wav(path, _tone(16000))
    with pytest.raises(InputError, match="sample rate"):
        load_audio(path, sample_rate=rate)


def test_streamed_wav_header_is_accepted(tmp_path):
    # ffmpeg writing to a pipe cannot seek back, so the sizes stay 0xFFFFFFFF.
    src = tmp_path / "x.wav"
    save_wav(src, _tone(16000, 1.0))
    out = subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(src), "-f", "wav", "-"],
                         check=True, capture_output=True).stdout
    piped = tmp_path / "piped.wav"
    piped.write_bytes(out)
    assert len(load_audio(piped)) == 16000


def test_int16_roundtrip_clips_and_rounds():
    x = np.array([0.0, 0.5, -0.5, 1.0, -1.0, 2.0, -2.0, 1e-5], np.float32)
    y = to_int16(x)
    assert y.dtype == np.int16
    assert y.tolist() == [0, 16384, -16384, 32767, -32767, 32767, -32768, 0]
    assert np.allclose(from_int16(y)[:5], x[:5], atol=1e-4)
    assert to_int16(np.array([np.nan, np.inf, -np.inf], np.float32)).tolist() == [0, 32767, -32767]


def test_save_and_load_roundtrip(tmp_path):
    x = _tone(16000, 0.3)
    save_wav(tmp_path / "r.wav", x)
    assert np.abs(load_audio(tmp_path / "r.wav") - x).max() < 1e-4


def test_pcm16_to_mono_downmixes_interleaved():
    left, right = np.full(4, 1000, np.int16), np.full(4, 3000, np.int16)
    inter = np.stack([left, right], axis=1).ravel()
    assert np.allclose(pcm16_to_mono(inter, 16000, 2) * 32768, 2000)


@pytest.mark.parametrize("samples,rate,channels,expected", [
    ([1, 2], 0, 1, "sample_rate"),
    ([1, 2], 10**9, 1, "sample_rate"),
    ([1, 2], 16000, 0, "channel count"),
    ([1, 2, 3], 16000, 2, "multiple of 2"),
    ([], 16000, 1, "empty"),
])
def test_pcm16_to_mono_rejects_bad_formats(samples, rate, channels, expected):
    with pytest.raises(InputError, match=expected):
        pcm16_to_mono(np.array(samples, np.int16), rate, channels)


def test_iter_chunks_pads_last_chunk():
    x = np.arange(700, dtype=np.int16)
    chunks = list(iter_chunks(x, CHUNK_SAMPLES))
    assert [len(c) for c in chunks] == [320, 320, 320]
    assert chunks[2][:60].tolist() == list(range(640, 700)) and not chunks[2][60:].any()
    assert len(list(iter_chunks(x, CHUNK_SAMPLES, pad=False))) == 2


def test_rechunker_preserves_every_sample():
    rng = np.random.default_rng(1)
    x = rng.standard_normal(5000).astype(np.float32)
    r, out, pos = Rechunker(512), [], 0
    for n in rng.integers(1, 900, size=40):
        out += r.push(x[pos:pos + n])
        pos += n
    joined = np.concatenate(out)
    assert all(len(b) == 512 for b in out)
    assert np.array_equal(joined, x[:len(joined)]) and r.pending == min(pos, 5000) - len(joined)


@pytest.mark.parametrize("rate_in", [48000, 44100, 8000, 22050])
def test_stream_resampler_matches_whole_file_resampling(rate_in):
    x = _tone(rate_in, 1.0, freq=300.0)
    rs, out = StreamResampler(16000), []
    for piece in iter_chunks(x, rate_in // 50, pad=False):        # 20 ms pieces
        out.append(rs.push(piece, rate_in))
    y = np.concatenate(out)
    ref = resample(x, rate_in, 16000)
    assert abs(len(y) - len(ref)) < 64                        # only the filter delay is missing
    lag = int(np.argmax(np.correlate(y[2000:4000], ref[2000:4000], "full")) - 1999)
    assert abs(lag) <= 20
    shifted = ref[2000 - lag:10000 - lag]
    assert np.abs(y[2000:10000] - shifted).max() < 0.05   # no clicks at 20 ms boundaries


def test_stream_resampler_passthrough_and_rate_change():
    rs = StreamResampler(16000)
    x = _tone(16000, 0.1)
    assert np.array_equal(rs.push(x, 16000), x)
    assert len(rs.push(_tone(48000, 0.1), 48000)) > 0
    with pytest.raises(InputError):
        rs.push(x, 0)
