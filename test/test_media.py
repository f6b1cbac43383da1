"""Mp4Writer and the recording cores, decoded back with PyAV (no ROS)."""
import numpy as np
import pytest
from av_fixtures import FPS, RATE, SPF, click_track, decode_index, decode_mp4, onsets_s, synthetic_frame
from rosbags.highlevel import AnyReader

from avatar.core.errors import InputError
from avatar.core.image_io import rgb_from_image
from avatar.core.recording import StampedMp4Recorder
from avatar.core.video_io import Mp4Writer
from avatar.nodes.bag import McapBag, typestore_with_msgs

FRAME_S = 1 / FPS


def test_roundtrip_counts_durations_and_alignment(tmp_path):
    path = str(tmp_path / "a.mp4")
    n = 75                                   # 3 s
    clicks = [0.52, 1.0, 2.2]                # audio events at known times
    audio = click_track(n * SPF, clicks)
    with Mp4Writer(path, 128, 128) as w:
        for i in range(n):
            w.write_frame(synthetic_frame(i))
            w.write_audio(audio[i * SPF:(i + 1) * SPF])   # int16 blocks
    info = decode_mp4(path)
    assert len(info["frames"]) == n
    assert [decode_index(f) for f in info["frames"]] == list(range(n))
    assert info["fps"] == FPS
    assert info["video_duration"] == pytest.approx(n / FPS, abs=FRAME_S)
    assert info["audio_duration"] == pytest.approx(n / FPS, abs=FRAME_S)
    # AAC decodes whole 1024-sample frames; the file's own audio length is exact.
    assert abs(info["audio"].size - n * SPF) < 1024
    # The same time on both tracks: a click at t is heard at t (AAC priming is trimmed).
    assert onsets_s(info["audio"]) == pytest.approx(clicks, abs=0.005)


def test_float_audio_in_odd_blocks_and_padding(tmp_path):
    path = str(tmp_path / "b.mp4")
    w = Mp4Writer(path, 64, 48)
    for i in range(50):
        w.write_frame(np.full((48, 64, 3), i * 5, np.uint8))
    rng = np.random.default_rng(0)
    for size in (1, 999, 333, 4000):        # 0.33 s of audio for 2 s of video
        w.write_audio(rng.uniform(-0.5, 0.5, size).astype(np.float32))
    assert w.close()
    assert w.close()                         # idempotent
    info = decode_mp4(path)
    assert len(info["frames"]) == 50
    # Missing audio at the end is padded with silence to the video's length.
    assert info["audio_duration"] == pytest.approx(2.0, abs=FRAME_S)
    assert np.abs(info["audio"][int(0.4 * RATE):]).max() < 1e-3


def test_no_frames_leaves_no_file(tmp_path):
    path = tmp_path / "c.mp4"
    w = Mp4Writer(str(path), 64, 64)
    w.write_audio(np.zeros(100, np.int16))
    assert not w.close()
    assert not path.exists()


@pytest.mark.parametrize("bad", [
    lambda w: w.write_frame(np.zeros((10, 10, 3), np.uint8)),
    lambda w: w.write_frame(np.zeros((64, 64, 3), np.float32)),
    lambda w: w.write_audio(np.zeros((10, 2), np.int16)),
    lambda w: w.write_audio(np.zeros(10, np.int32)),
])
def test_bad_input_is_one_clear_error(tmp_path, bad):
    with Mp4Writer(str(tmp_path / "d.mp4"), 64, 64) as w:
        w.write_frame(np.zeros((64, 64, 3), np.uint8))
        with pytest.raises(InputError):
            bad(w)


def test_bad_size_and_path():
    with pytest.raises(InputError):
        Mp4Writer("/tmp/x.mp4", 63, 64)
    with pytest.raises(InputError):
        Mp4Writer("/nonexistent-dir/x.mp4", 64, 64)


def test_stamped_recorder_fills_gaps_and_drops_repeats(tmp_path):
    path = str(tmp_path / "e.mp4")
    rec = StampedMp4Recorder(path)
    t0 = 1000.0
    audio = click_track(2 * RATE, [0.5, 1.5])
    rec.add_audio(t0 - 0.2, np.zeros(int(0.2 * RATE), np.int16))   # before the first frame: trimmed
    stamps = [k for k in range(50) if not 10 <= k < 15]              # frames 10..14 missing
    for k in stamps:
        rec.add_frame(t0 + k / FPS + 0.003, synthetic_frame(k))        # small stamp jitter
        if k == 20:
            rec.add_frame(t0 + k / FPS, synthetic_frame(99))           # a second frame for slot 20
    # audio in 20 ms chunks, with a 0.2 s hole
    for i in range(0, audio.size, SPF // 2):
        if not 0.8 * RATE <= i < 1.0 * RATE:
            rec.add_audio(t0 + i / RATE, audio[i:i + SPF // 2])
    assert rec.close()
    info = decode_mp4(path)
    idx = [decode_index(f) for f in info["frames"]]
    assert len(idx) == 50
    assert idx[10:15] == [9] * 5                  # the gap repeats the previous frame
    assert idx[20] == 20 and 99 not in idx
    assert rec.stats["frames_repeated"] == 5 and rec.stats["frames_dropped"] == 1
    assert onsets_s(info["audio"]) == pytest.approx([0.5, 1.5], abs=0.005)
    hole = info["audio"][int(0.82 * RATE):int(0.98 * RATE)]
    assert np.abs(hole).max() < 1e-3               # silence-filled


def test_stamped_recorder_ends_both_tracks_together(tmp_path):
    """Stopped while frames lag 1.5 s behind the real-time audio: the audio that has no
    picture yet is cut, so both tracks end together."""
    path = str(tmp_path / "lag.mp4")
    rec = StampedMp4Recorder(path)
    audio = click_track(4 * RATE, [0.5, 3.5])
    rec.add_frame(0.0, synthetic_frame(0))
    for i in range(0, audio.size, SPF // 2):
        rec.add_audio(i / RATE, audio[i:i + SPF // 2])
        k = round((i / RATE - 1.5) * FPS)                  # the frame generator is 1.5 s behind
        if k > 0 and i % SPF == 0:
            rec.add_frame(k / FPS, synthetic_frame(k))
    assert rec.close()
    info = decode_mp4(path)
    assert len(info["frames"]) == 63                         # up to 2.5 s of video
    assert abs(len(info["audio"]) / RATE - len(info["frames"]) / FPS) < 0.07   # AAC pads < 1024 samples
    assert onsets_s(info["audio"]) == pytest.approx([0.5], abs=0.005)         # the click at 3.5 s was cut
    assert rec.stats["audio_cut_at_end_samples"] >= 1.4 * RATE


def test_stamped_recorder_resizes_changed_frames(tmp_path):
    rec = StampedMp4Recorder(str(tmp_path / "f.mp4"))
    rec.add_frame(0.0, synthetic_frame(0, 128))
    rec.add_frame(0.04, synthetic_frame(1, 256))
    assert rec.close()
    assert decode_mp4(str(tmp_path / "f.mp4"))["width"] == 128


def test_image_field_conversion():
    rgb = synthetic_frame(3, 32)
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    padded = np.zeros((32, 100), np.uint8)
    padded[:, :96] = rgb.reshape(32, 96)
    assert np.array_equal(rgb_from_image(32, 32, "rgb8", 96, rgb.tobytes()), rgb)
    assert np.array_equal(rgb_from_image(32, 32, "bgr8", 96, bgr.tobytes()), rgb)
    assert np.array_equal(rgb_from_image(32, 32, "rgb8", 100, padded.tobytes()), rgb)
    with pytest.raises(InputError):
        rgb_from_image(32, 32, "yuv422", 64, bytes(2048))
    with pytest.raises(InputError):
        rgb_from_image(32, 32, "rgb8", 96, bytes(10))


def test_mcap_bag_roundtrip(tmp_path):
    """Raw CDR in, typed messages out (our own AudioChunk type registered from msg/)."""
    from pathlib import Path
    msg_dir = Path(__file__).resolve().parents[1] / "msg"
    store = typestore_with_msgs([tmp_path / "nowhere", msg_dir])
    chunk_t = store.types["avatar/msg/AudioChunk"]
    header_t = store.types["std_msgs/msg/Header"]
    time_t = store.types["builtin_interfaces/msg/Time"]
    bag_path = tmp_path / "bag"
    bag = McapBag(str(bag_path), store)
    bag.add_topic("/avatar/speech/audio", "avatar/msg/AudioChunk")
    for i in range(7):
        msg = chunk_t(header=header_t(stamp=time_t(sec=i, nanosec=0), frame_id=""), sample_rate=16000,
                         channels=1, samples=np.arange(320, dtype=np.int16) + i)
        bag.write("/avatar/speech/audio", i * 10 ** 9, store.serialize_cdr(msg, "avatar/msg/AudioChunk"))
    bag.close()
    with AnyReader([bag_path], default_typestore=store) as reader:
        msgs = [reader.deserialize(raw, conn.msgtype) for conn, _, raw in reader.messages()]
    assert len(msgs) == 7 and msgs[6].samples[0] == 6 and msgs[3].header.stamp.sec == 3
    with pytest.raises(InputError):
        McapBag(str(bag_path), store)              # never overwrites a bag
