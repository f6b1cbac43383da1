"""Renderers behind one protocol (base.Renderer) and their registration.

A new renderer is one module with a class satisfying ``Renderer`` plus one
entry in ``renderer_classes``. ``load_renderer`` builds one by name for the
CLI, the node and the bench.
"""
from __future__ import annotations

from pathlib import Path

from avatar.core.errors import InputError

DEFAULT_RENDERER = "warp"
RENDERER_NAMES = ("warp", "diffusion")     # the --renderer / ``renderer`` parameter choices
FRAMINGS = ("face", "whole")               # face: find the face, animate its crop, paste it back;
                                           # whole: the image already is the crop (engine/whole_frame.py)


def renderer_classes() -> dict[str, type]:
    """name -> class, imported on demand (the diffusion renderer loads torch networks)."""
    from avatar.model_runtime.renderers.diffusion import DiffusionRenderer
    from avatar.model_runtime.renderers.warp.renderer import WarpRenderer

    classes = {cls.name: cls for cls in (WarpRenderer, DiffusionRenderer)}
    assert tuple(classes) == RENDERER_NAMES, "RENDERER_NAMES must list every registered renderer"
    return classes


def load_renderer(name: str, size: int | None = None, dtype: str = "bf16", device: str = "cpu", checkpoint: Path | None = None,
                  image=None):
    """A ready renderer (``size`` None: its class' default_size). ``checkpoint``, ``dtype`` and
    ``device`` apply to learned renderers only."""
    if name not in RENDERER_NAMES:
        raise InputError(f"unknown renderer {name!r}: use one of {', '.join(RENDERER_NAMES)}")
    cls = renderer_classes()[name]
    return cls.load(size=cls.default_size if size is None else size, dtype=dtype, device=device,
                    checkpoint=checkpoint, image=image)
