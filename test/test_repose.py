"""Re-posing the diffusion renderer's reference to the commanded expression (renderers/repose.py).

A tiny random model on the corpus portrait of assets/: the re-posed reference must change what
is drawn when an expression is commanded, leave a neutral clip exactly as without re-posing,
stay deterministic per seed and encode each quantised pose once.
"""
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from engine_fixtures import tiny_model

from avatar.core import expression, face_motion as fm
from avatar.model_runtime.engine.whole_frame import WholeFrame
from avatar.model_runtime.renderers.base import ClipInputs
from avatar.model_runtime.renderers.diffusion import DiffusionRenderer
from avatar.model_runtime.renderers.repose import REPOSE_QUANTUM, quantised_pose

SIZE = 160          # the portrait analysis needs 24 px between the eyes (the corpus face: 26 px here)
N = 4
PORTRAIT = Path(__file__).resolve().parents[1] / "assets" / "portrait.png"


def command(**values) -> torch.Tensor:
    """(1, N, E) expression holding ``values`` over the clip."""
    e = torch.zeros(1, N, expression.DIM)
    for name, v in values.items():
        e[..., expression.INDEX[name]] = v
    return e


@pytest.fixture(scope="module")
def setup():
    torch.set_num_threads(1)
    model = tiny_model(SIZE)
    aligned = WholeFrame(cv2.cvtColor(cv2.imread(str(PORTRAIT)), cv2.COLOR_BGR2RGB)).align(SIZE)
    plain, reposing = DiffusionRenderer(model), DiffusionRenderer(model, repose=True)
    tokens = model.audio_tokens(torch.zeros(1, N * 640), N)
    return plain, plain.prepare(aligned.crop, aligned), reposing, reposing.prepare(aligned.crop, aligned), tokens


def draw(renderer, prepared, tokens, expr: torch.Tensor, seed: int = 0) -> np.ndarray:
    clip = ClipInputs(motion=np.zeros((N, fm.DIM), np.float32), tokens=tokens,
                      states=torch.full((1, N), 2, dtype=torch.long), expression=expr, steps=2,
                      generator=torch.Generator().manual_seed(seed))
    out, _ = renderer.denoise(clip, prepared, None)
    return renderer.decode(out, prepared)                    # (N, S, S, 3) uint8


def test_pose_is_the_clip_mean_quantised_without_the_jaw():
    key, pose = quantised_pose(command(smile=1.0))
    assert pose[fm.INDEX["mouthSmileLeft"]] == pytest.approx(1.0)
    assert pose[fm.INDEX["jawOpen"]] == 0.0 and np.count_nonzero(key) == 2       # the smile pair only
    assert not any(quantised_pose(command())[0])
    # Half a quantum of the clip mean (a quarter of the frames at twice that) rounds to the same pose.
    e = command(smile=0.5)
    e[:, 0, expression.INDEX["smile"]] += 1.6 * REPOSE_QUANTUM
    assert quantised_pose(e)[0] == quantised_pose(command(smile=0.5))[0]
    # Controls left out stay neutral.
    assert not any(quantised_pose(command(brow_raise=1.0), ("smile", "gaze_x"))[0])


def test_neutral_clip_is_drawn_as_without_reposing(setup):
    plain, ref, reposing, reposer, tokens = setup
    np.testing.assert_array_equal(draw(plain, ref, tokens, command()), draw(reposing, reposer, tokens, command()))


def test_commanded_expression_changes_the_reference_and_output(setup):
    plain, ref, reposing, reposer, tokens = setup
    smile = command(smile=1.0, brow_raise=1.0)
    got = draw(reposing, reposer, tokens, smile)
    assert np.abs(got.astype(int) - draw(plain, ref, tokens, smile).astype(int)).mean() > 0.5
    np.testing.assert_array_equal(got, draw(reposing, reposer, tokens, smile))        # same seed, same frames
    encoded = reposer.encoded
    draw(reposing, reposer, tokens, command(smile=1.0 - 0.2 * REPOSE_QUANTUM, brow_raise=1.0))
    assert reposer.encoded == encoded                                                 # same pose: cached
    draw(reposing, reposer, tokens, command(frown=1.0))
    assert reposer.encoded == encoded + 1
