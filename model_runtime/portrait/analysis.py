"""Portrait analysis: once per portrait, the output frame, its faces and the chosen one.

``analyse_portrait`` downsizes the portrait to the output frame (``max_side``, even
sides), finds every face on a detection copy of the given image (at most
``DETECT_SIDE_MAX``, so small faces in large photos keep their pixels), and maps the
landmarks into the output frame. ``Portrait.align`` cuts the aligned crop a renderer
draws on; ``Portrait.paste`` puts drawn crops back into the whole frame.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import cv2
import numpy as np

from avatar.core.errors import InputError
from avatar.core.image_io import MIN_SIDE
from avatar.model_runtime.portrait.crop import affine_scale, framing_affine, to_crop_landmarks, warp_crop
from avatar.model_runtime.portrait.detect import FaceFinder
from avatar.model_runtime.portrait.landmarks import eye_distance, face_box
from avatar.model_runtime.portrait.mask import paste_mask
from avatar.model_runtime.portrait.paste import PasteRegion, paste_frames, paste_region
from avatar.model_runtime.renderers.base import Framing

log = logging.getLogger(__name__)

MAX_SIDE = 1024          # default output frame: the portrait's long side is at most this
DETECT_SIDE_MAX = 2048   # faces are searched on a copy of the given image no larger than this
MIN_EYE_PX = 24          # eye-centre distance in the given image below which the mesh is unreliable
MIN_OUTPUT_EYE_PX = 8    # ... and in the output frame, below which nothing visible can be animated
NO_FACE = "no face found in the portrait: use a photo or drawing with a visible frontal face"


@dataclass(frozen=True)
class AlignedFace:
    """The aligned square crop a renderer draws on, and how it goes back into the portrait."""
    size: int
    crop: np.ndarray        # (size, size, 3) uint8 RGB, eye line level, framing applied
    landmarks: np.ndarray   # (478, 3) float32 crop pixels; z scaled like x, y (mediapipe sign: - toward the viewer)
    to_crop: np.ndarray     # (2, 3) float64 affine, portrait.image pixels -> crop pixels
    mask: np.ndarray        # (size, size) float32 0..1 paste-back weight, 0 on the crop border
    framing: Framing
    region: PasteRegion     # the mask's support in portrait.image pixels (what paste touches)


@dataclass(frozen=True)
class Portrait:
    """A portrait analysed once: the output frame and the faces in it."""
    image: np.ndarray            # (H, W, 3) uint8 RGB output frame, max(H, W) <= max_side, H and W even
    faces: list[np.ndarray]      # (478, 3) float32 each, image pixels, largest first; z = mediapipe z x
                                 # width in these pixels, DECREASING toward the viewer (nose tip < 0 < ears)
    max_side: int = MAX_SIDE
    _aligned: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def face(self) -> np.ndarray:
        """(478, 3) float32: the face that is animated (the largest)."""
        return self.faces[0]

    def align(self, size: int = 512, framing: Framing = Framing()) -> AlignedFace:
        """The aligned crop of the chosen face at ``size`` (cached per size and framing)."""
        key = (int(size), framing)
        if key not in self._aligned:
            self._aligned[key] = align_face(self.image, self.face, int(size), framing)
        return self._aligned[key]

    def paste(self, aligned: AlignedFace, crops: np.ndarray) -> np.ndarray:
        """(n, size, size, 3) uint8 crops -> (n, H, W, 3) uint8 whole frames; a single
        (size, size, 3) crop -> one (H, W, 3) frame. Pixels outside the mask stay byte-identical."""
        crops = np.asarray(crops)
        if crops.shape[-3:] != (aligned.size, aligned.size, 3) or crops.dtype != np.uint8:
            raise ValueError(f"crops must be uint8 (n, {aligned.size}, {aligned.size}, 3), "
                             f"got {crops.dtype} {crops.shape}")
        if crops.ndim == 3:
            return paste_frames(self.image, aligned.region, crops[None])[0]
        return paste_frames(self.image, aligned.region, crops)


def align_face(image: np.ndarray, lm: np.ndarray, size: int, framing: Framing) -> AlignedFace:
    to_crop = framing_affine(lm, size, framing)
    upscale = affine_scale(to_crop)
    if upscale > 1.0:
        log.warning("the face is upscaled x%.1f into the %d px crop (%.0f px between the eyes in the portrait)",
                    upscale, size, eye_distance(lm))
    crop_lm = to_crop_landmarks(lm, to_crop)
    mask = paste_mask(crop_lm, size)
    return AlignedFace(size=size, crop=warp_crop(image, to_crop, size), landmarks=crop_lm, to_crop=to_crop,
                       mask=mask, framing=framing, region=paste_region(mask, to_crop, image.shape))


def output_frame(image: np.ndarray, max_side: int) -> np.ndarray:
    """(H, W, 3) -> the output frame: long side at most max_side (INTER_AREA), both sides even."""
    h, w = image.shape[:2]
    k = min(1.0, max_side / max(h, w))
    if k < 1.0:
        size = (max(2, int(w * k) // 2 * 2), max(2, int(h * k) // 2 * 2))
        return cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image[: h // 2 * 2, : w // 2 * 2])   # even sides by dropping a row/column


def check_image(image) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        got = f"{image.dtype} {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise InputError(f"the portrait must be an RGB uint8 image (H, W, 3); got {got}")
    h, w = image.shape[:2]
    if min(h, w) < MIN_SIDE:
        raise InputError(f"the portrait is too small ({w}x{h}); need at least {MIN_SIDE}x{MIN_SIDE} pixels with a face")


def analyse_portrait(image: np.ndarray, max_side: int = MAX_SIDE) -> Portrait:
    """(H, W, 3) uint8 RGB -> Portrait. InputError: not an RGB image, too small, no face, face too small."""
    with FaceFinder() as finder:
        return analyse_with(finder, image, max_side)


def analyse_with(finder: FaceFinder, image: np.ndarray, max_side: int) -> Portrait:
    check_image(image)
    frame = output_frame(image, max_side)
    detect = output_frame(image, DETECT_SIDE_MAX)
    found = finder.find(detect)
    if not found:
        raise InputError(NO_FACE)
    # detection-copy pixels -> given-image pixels and -> output pixels (z follows x)
    to_given = np.array([image.shape[1] / detect.shape[1], image.shape[0] / detect.shape[0]])
    to_out = np.array([frame.shape[1] / detect.shape[1], frame.shape[0] / detect.shape[0]])
    largest = found[0]
    given_eyes = eye_distance(largest[:, :2] * to_given)
    if given_eyes < MIN_EYE_PX:
        raise InputError(f"the face is too small to animate: {given_eyes:.0f} px between the eye centres, "
                         f"need at least {MIN_EYE_PX} px (use a larger or closer photo)")
    faces = [(lm * (*to_out, to_out[0])).astype(np.float32) for lm in found]
    out_eyes = eye_distance(faces[0])
    if out_eyes < MIN_OUTPUT_EYE_PX:
        raise InputError(f"at max_side {max_side} the face is only {out_eyes:.0f} px between the eye centres, "
                         f"need at least {MIN_OUTPUT_EYE_PX} px: raise max_side (--max-side)")
    if len(faces) > 1:
        log.info("%d faces found; animating the largest, box (x0, y0, x1, y1) = (%.0f, %.0f, %.0f, %.0f)",
                 len(faces), *face_box(faces[0]))
    return Portrait(image=frame, faces=faces, max_side=max_side)
