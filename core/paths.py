"""Where installed data lives: the bundled config, portrait, sample audio and models.

Works for both install routes: pip (no AMENT_PREFIX_PATH needed: share/avatar is
found relative to the interpreter prefix) and colcon / ROS (ament index).
"""
import os
import sys
from importlib import resources
from pathlib import Path

from avatar.core.errors import AvatarError


def share_dir() -> Path:
    candidates = [Path(sys.prefix) / "share" / "avatar"]
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            candidates.append(Path(prefix) / "share" / "avatar")
    # Running from a source checkout (tests before install, colcon --symlink-install).
    candidates.append(Path(__file__).resolve().parents[1])
    for c in candidates:
        if (c / "config" / "avatar.yaml").is_file():
            return c
    raise AvatarError("cannot find the avatar share directory (config/avatar.yaml); is the package installed?")


def default_config() -> Path:
    return share_dir() / "config" / "avatar.yaml"


def asset(name: str) -> Path:
    """A file bundled in the Python package under avatar/assets."""
    path = Path(str(resources.files("avatar") / "assets" / name))
    if not path.exists():
        raise AvatarError(f"bundled asset missing: {name}")
    return path
