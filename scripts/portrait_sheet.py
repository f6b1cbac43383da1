"""Contact sheet of the warp renderer: docs/portrait_contact_sheet.png.

Rows: the portrait cases of test/portrait_cases.py (real photos, a drawing, the bundled
portrait, glasses, beard, turned head, full body, group, mirrored, ...). Columns: neutral,
speaking open, smile, blink, brow raise, look left, head yaw +8 deg. Each cell is the
aligned crop rendered at 512 and downscaled.

    .venv/bin/python scripts/portrait_sheet.py [--out docs/portrait_contact_sheet.png] [--cell 176]
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "test"))

import portrait_cases  # noqa: E402

from avatar.core import face_motion as fm  # noqa: E402
from avatar.model_runtime.portrait import analyse_portrait  # noqa: E402
from avatar.model_runtime.renderers.warp.renderer import WarpRenderer  # noqa: E402

COLUMNS = (
    ("neutral", {}),
    ("speaking open", {"jawOpen": 0.6, "mouthFunnel": 0.2}),
    ("smile", {"mouthSmileLeft": 0.8, "mouthSmileRight": 0.8}),
    ("blink", {"eyeBlinkLeft": 1.0, "eyeBlinkRight": 1.0}),
    ("brow raise", {"browInnerUp": 1.0, "browOuterUpLeft": 1.0, "browOuterUpRight": 1.0}),
    ("look left", {"eyeLookInLeft": 1.0, "eyeLookOutRight": 1.0}),
    ("head yaw +8", {"headYaw": math.radians(8.0)}),
)
LABEL_W, HEADER_H = 120, 28
FONT = cv2.FONT_HERSHEY_SIMPLEX


def label(width: int, height: int, text: str) -> np.ndarray:
    out = np.full((height, width, 3), 255, np.uint8)
    scale = 0.5
    (tw, th), _ = cv2.getTextSize(text, FONT, scale, 1)
    cv2.putText(out, text, ((width - tw) // 2, (height + th) // 2), FONT, scale, (20, 20, 20), 1, cv2.LINE_AA)
    return out


def row(renderer: WarpRenderer, image: np.ndarray, cell: int) -> list[np.ndarray]:
    aligned = analyse_portrait(image).align(renderer.size, renderer.framing)
    prepared = renderer.prepare(aligned.crop, aligned)
    frames = renderer.decode(np.stack([fm.vector(v) for _, v in COLUMNS]), prepared)
    return [cv2.resize(f, (cell, cell), interpolation=cv2.INTER_AREA) for f in frames]


def sheet(names: list[str], cell: int, size: int = 512) -> np.ndarray:
    renderer = WarpRenderer(size)
    cases = portrait_cases.cases()
    header = [label(LABEL_W, HEADER_H, "")] + [label(cell, HEADER_H, name) for name, _ in COLUMNS]
    rows = [np.hstack(header)]
    for name in names:
        cells = row(renderer, cases[name], cell)
        rows.append(np.hstack([label(LABEL_W, cell, name.replace("_", " "))] + cells))
    return np.vstack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "portrait_contact_sheet.png")
    ap.add_argument("--cell", type=int, default=176)
    ap.add_argument("--cases", nargs="*", default=list(portrait_cases.FACE_CASES))
    args = ap.parse_args()
    img = sheet(args.cases, args.cell)
    cv2.imwrite(str(args.out), cv2.cvtColor(img, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"{args.out}: {img.shape[1]}x{img.shape[0]}, {args.out.stat().st_size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
