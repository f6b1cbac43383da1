"""Expression keyframe tracks (`avatar render --expression TRACK.json`)."""
import numpy as np
import pytest

from avatar.core.errors import InputError
from avatar.core.expression import INDEX, parse_controls
from avatar.core.expression_mapping import named_expression
from avatar.core.expression_track import parse_track, per_frame


def test_linear_between_keyframes_and_held_outside():
    times, vectors = parse_track([{"t": 2.0, "smile": 0.8}, {"t": 1.0, "expression": "neutral"}])
    assert list(times) == [1.0, 2.0]                              # sorted by time
    frames = per_frame(times, vectors, 100)                       # 4 s at 25 fps
    smile = frames[:, INDEX["smile"]]
    assert smile[0] == smile[25] == pytest.approx(named_expression("neutral")[INDEX["smile"]])
    assert smile[38] == pytest.approx(0.8 * 13 / 25, abs=1e-5)    # 1.52 s: 52 % of the way
    assert smile[50] == smile[99] == pytest.approx(0.8)
    assert np.abs(np.diff(frames, axis=0)).max() <= 0.8 / 25 + 1e-6   # no jumps


@pytest.mark.parametrize("entries,needle", [
    ([], "non-empty"),
    ({"t": 0}, "non-empty"),
    ([{"smile": 0.5}], 'needs "t"'),
    ([{"t": -1, "smile": 0.5}], 'needs "t"'),
    ([{"t": 0, "grin": 1}], "unknown control 'grin'"),
    ([{"t": 0, "smile": float("nan")}], "smile=nan is not a finite number"),
    ([{"t": 0, "smile": "lots"}], "smile='lots'"),
    ([{"t": 0, "expression": "happy", "smile": 1}], "not both"),
    ([{"t": 0, "expression": "grumpy"}], "grumpy"),
])
def test_bad_tracks(entries, needle):
    with pytest.raises(InputError, match=needle):
        parse_track(entries)


def test_out_of_range_values_are_clamped_with_one_warning_line(capsys):
    """The node's rule, for tracks and --expression too: clamp into range and say so."""
    _, vectors = parse_track([{"t": 0, "smile": 5, "gaze_x": -3.5}])
    assert vectors[0, INDEX["smile"]] == 1.0 and vectors[0, INDEX["gaze_x"]] == -1.0
    assert parse_controls("smile=5")[INDEX["smile"]] == 1.0
    err = capsys.readouterr().err.splitlines()
    assert err == ["warning: expression control smile=5 is outside [0, 1]: clamped to 1",
                   "warning: expression control gaze_x=-3.5 is outside [-1, 1]: clamped to -1",
                   "warning: expression control smile=5.0 is outside [0, 1]: clamped to 1"]
