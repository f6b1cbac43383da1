"""One identity's frame renderer: static layers once, moving features per frame."""
from __future__ import annotations

import numpy as np

from . import draw_features as df
from . import paint
from .draw_static import background, draw_body, head_layer, shading_map
from .geometry import Geometry, make_geometry, pose_matrix
from .identity import Identity


class FaceRenderer:
    """``render(FaceState) -> (S, S, 3) uint8 RGB``."""

    def __init__(self, ident: Identity, size: int = 256) -> None:
        self.ident = ident
        self.g: Geometry = make_geometry(ident, size)
        self._backdrop = background(ident, size)
        draw_body(self._backdrop, ident, self.g)
        self._backdrop_f = self._backdrop.astype(np.float32)
        self._head = head_layer(ident, self.g)
        self.tones = self._tones()

    def _tones(self) -> df.Tones:
        shade = shading_map(self.ident, self.g)
        g = self.g

        def at(x: float, y: float) -> tuple:
            f = float(shade[int(np.clip(y, 0, g.size - 1)), int(np.clip(x, 0, g.size - 1))])
            return paint.shade(self.ident.skin, f)
        left = float(shade[int(g.cy), int(g.cx - 0.5 * g.a)])
        right = float(shade[int(g.cy), int(g.cx + 0.5 * g.a)])
        return df.Tones(eyes=at(g.cx - g.eye_dx, g.eye_y), nose=at(g.cx, g.nose_y),
                        mouth=at(g.cx, g.mouth_y), shadow_side=1 if right < left else -1)

    def render(self, st: df.FaceState) -> np.ndarray:
        g = self.g
        m = pose_matrix(g, st.yaw, st.pitch, st.roll, st.breathe)
        head = df.warp_layer(self._head, m)                       # (S, S, 4), premultiplied
        alpha = head[..., 3:].astype(np.float32) * (1.0 / 255.0)
        frame = self._backdrop_f * (1.0 - alpha) + head[..., :3]
        img = np.clip(frame + 0.5, 0, 255).astype(np.uint8)
        pl = df.Placement(g, m, st.yaw, st.pitch)
        df.draw_nose(img, g, st, pl, self.tones)
        df.draw_mouth(img, g, self.ident, st, pl, self.tones)
        df.draw_eyes(img, g, self.ident, st, pl, self.tones)
        df.draw_brows(img, g, self.ident, st, pl, self.tones)
        df.draw_glasses(img, g, self.ident, pl)
        return img

    def portrait(self) -> np.ndarray:
        """The neutral, mouth-closed reference image."""
        return self.render(df.FaceState())
