"""Fullscreen kiosk window (pygame / SDL2) with letterbox scaling.

Why pygame and not ``cv2.imshow``: the project pins opencv-python-headless (no
GUI), and the GUI wheel's Qt backend cannot go fullscreen without a window
manager (a kiosk X session often has none) and clashes with the headless wheel
in one environment. SDL2 ships inside the pygame wheel, goes fullscreen on a
bare X server, and needs only libX11 from the system.

The window is a :class:`~avatar.core.av_sync.Presenter` sink: it is opened,
drawn and polled on the presenter's thread.
"""
import os
from dataclasses import dataclass

import cv2
import numpy as np

from avatar.core.errors import AvatarError


@dataclass
class WindowConfig:
    fullscreen: bool = True
    size: tuple[int, int] = (800, 600)   # (width, height) when not fullscreen
    title: str = "avatar"


def letterbox_rect(src_w: int, src_h: int, dst_w: int, dst_h: int) -> tuple[int, int, int, int]:
    """(x, y, w, h): the largest rectangle with the source's aspect ratio, centred in the target."""
    scale = min(dst_w / src_w, dst_h / src_h)
    w, h = max(1, round(src_w * scale)), max(1, round(src_h * scale))
    return (dst_w - w) // 2, (dst_h - h) // 2, w, h


def check_display() -> None:
    """Fail early, in one line, where a window cannot be opened."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise AvatarError("mode=window needs a display (DISPLAY is not set); use mode web or none")


class WindowSink:
    """Shows RGB frames (H, W, 3) uint8, letterboxed on black."""

    def __init__(self, config: WindowConfig | None = None):
        self.cfg = config or WindowConfig()
        self._pg = None
        self._screen = None
        self._rect_cache: tuple | None = None

    def open(self) -> None:
        # Set before the import: pygame prints a banner on import otherwise.
        os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
        import pygame
        self._pg = pygame
        try:
            pygame.display.init()
            if self.cfg.fullscreen:
                # (0, 0) = the desktop's size; SDL switches no video mode.
                self._screen = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
                pygame.mouse.set_visible(False)
            else:
                self._screen = pygame.display.set_mode(self.cfg.size, pygame.RESIZABLE)
        except pygame.error as err:
            raise AvatarError(f"cannot open a window: {err}") from err
        pygame.display.set_caption(self.cfg.title)
        self._screen.fill((0, 0, 0))
        pygame.display.flip()

    def show(self, rgb: np.ndarray) -> None:
        pg, screen = self._pg, self._screen
        dst_w, dst_h = screen.get_size()
        h, w = rgb.shape[:2]
        key = (w, h, dst_w, dst_h)
        if key != self._rect_cache:
            # The bars only need painting when the geometry changes.
            screen.fill((0, 0, 0))
            self._rect_cache = key
        x, y, rw, rh = letterbox_rect(w, h, dst_w, dst_h)
        interp = cv2.INTER_AREA if rw < w else cv2.INTER_LINEAR
        scaled = np.ascontiguousarray(cv2.resize(rgb, (rw, rh), interpolation=interp))  # (rh, rw, 3)
        surface = pg.image.frombuffer(scaled.data, (rw, rh), "RGB")
        screen.blit(surface, (x, y))
        pg.display.flip()

    def poll(self) -> bool:
        """Handle window events. False when the user closed the window or pressed Esc/q."""
        pg = self._pg
        for event in pg.event.get():
            if event.type == pg.QUIT:
                return False
            if event.type == pg.KEYDOWN and event.key in (pg.K_ESCAPE, pg.K_q):
                return False
            if event.type == pg.VIDEORESIZE:
                self._rect_cache = None
        return True

    def close(self) -> None:
        if self._pg is not None:
            self._pg.display.quit()
            self._pg = None
