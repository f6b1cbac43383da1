"""The mouth-weighted denoising loss: the weight map and how edm_loss applies it."""
import numpy as np
import torch

from avatar.model_runtime.edm import edm_loss
from avatar.model_runtime.training.clips import mouth_map


def test_mouth_map_peaks_on_the_mouth_and_keeps_the_loss_scale():
    w = mouth_map((21.0, 16.0, 2.5), 32, 32, gain=8.0)
    assert w.shape == (32, 32) and abs(w.mean() - 1.0) < 1e-5
    y, x = np.unravel_index(np.argmax(w), w.shape)
    assert (y, x) in {(20, 15), (20, 16), (21, 15), (21, 16)}
    assert w.max() / w.min() > 7.0                       # 1 + gain at the centre vs ~1 far away
    assert np.allclose(mouth_map((21.0, 16.0, 2.5), 32, 32, gain=0.0), 1.0)


def test_pixel_weight_moves_the_loss_to_where_the_errors_are():
    z = torch.zeros(2, 3, 4, 32, 32)
    sigma = torch.full((2,), 0.5)

    def off_at(y0, y1):                                  # a denoiser wrong only in rows y0:y1
        def fn(x, s, cond):
            out = torch.zeros_like(x)
            out[..., y0:y1, :] = 1.0
            return out
        return fn

    w = torch.from_numpy(mouth_map((21.0, 16.0, 2.5), 32, 32, 8.0))[None, None, None].expand(2, 1, 1, 32, 32)
    plain = edm_loss(off_at(19, 23), z, sigma, None, 0.3, torch.Generator().manual_seed(0))
    assert torch.allclose(edm_loss(off_at(19, 23), z, sigma, None, 0.3, torch.Generator().manual_seed(0),
                                   torch.ones(2, 1, 1, 32, 32)), plain)
    mouth_err = edm_loss(off_at(19, 23), z, sigma, None, 0.3, torch.Generator().manual_seed(0), w)
    forehead_err = edm_loss(off_at(2, 6), z, sigma, None, 0.3, torch.Generator().manual_seed(0), w)
    assert mouth_err > 1.5 * plain and forehead_err < 0.9 * plain   # a 4-row band, wider than the mouth
