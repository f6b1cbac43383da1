"""Portrait analysis (docs/PORTRAIT.md): faces and face mesh, the aligned crop, the paste-back.

    portrait = analyse_portrait(rgb, max_side=1024)
    aligned = portrait.align(size=512, framing=Framing())
    frames = portrait.paste(aligned, crops)
"""
from avatar.model_runtime.portrait.analysis import (
    MAX_SIDE, MIN_EYE_PX, NO_FACE, AlignedFace, Portrait, analyse_portrait)
from avatar.model_runtime.portrait.cache import PortraitCache
from avatar.model_runtime.portrait.detect import FaceFinder

__all__ = ["AlignedFace", "FaceFinder", "MAX_SIDE", "MIN_EYE_PX", "NO_FACE", "Portrait", "PortraitCache",
           "analyse_portrait"]
