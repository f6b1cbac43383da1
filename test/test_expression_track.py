"""Expression keyframe tracks (`avatar render --expression TRACK.json`)."""
import numpy as np
import pytest

from avatar.core.errors import InputError
from avatar.core.expression import INDEX
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
    ([{"t": 0, "smile": 5}], "smile=5"),
    ([{"t": 0, "smile": "lots"}], "smile='lots'"),
    ([{"t": 0, "expression": "happy", "smile": 1}], "not both"),
    ([{"t": 0, "expression": "grumpy"}], "grumpy"),
])
def test_bad_tracks(entries, needle):
    with pytest.raises(InputError, match=needle):
        parse_track(entries)
