"""Output files that are never lost or silently replaced (ROS-free).

``check_writable`` refuses, with one line and before any work starts, a path that
is a directory, lies in a missing or read-only directory, or already exists
without ``overwrite``. ``atomic_output`` writes to a temporary sibling and
renames it onto the final name only on success, so an interrupted or failed
write never leaves a partial file under that name (nor replaces an older one).
"""
import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from avatar.core.errors import InputError

# Default of the recorder's ``overwrite`` parameter, `avatar launch --overwrite` and the YAML:
# an existing recording is kept unless the operator asks to replace it.
OVERWRITE_DEFAULT = False


def check_writable(path: str | Path, overwrite: bool = OVERWRITE_DEFAULT) -> Path:
    """The absolute path, if a new file can be written there; InputError with the reason otherwise."""
    p = Path(path).expanduser().absolute()
    if p.is_dir():
        raise InputError(f"{p} is a directory; give a file name")
    if p.exists() and not overwrite:
        raise InputError(f"{p} exists; not replacing it (pass --overwrite, or overwrite:=true, to replace it)")
    parent = p.parent
    if not parent.is_dir():
        raise InputError(f"cannot write {p}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"cannot write {p}: directory {parent} is not writable")
    if p.exists() and not os.access(p, os.W_OK):
        raise InputError(f"cannot replace {p}: the file is read-only")
    return p


@contextmanager
def atomic_output(path: str | Path) -> Iterator[Path]:
    """Yield a temporary sibling path (same suffix, so writers pick the format from it); on a
    normal exit rename it onto ``path``, on any exception (KeyboardInterrupt too) remove it.

    >>> with atomic_output("talk.mp4") as tmp:
    ...     write_video(tmp)
    """
    final = Path(path).expanduser().absolute()
    # A fresh hidden name in the same directory (same file system, so the rename is atomic); not
    # created here, so the writer creates it with the usual permissions (mkstemp's are 0600).
    tmp = final.with_name(f".{final.stem}.{os.getpid()}-{secrets.token_hex(4)}.part{final.suffix}")
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if not tmp.exists():
        raise InputError(f"nothing was written to {final}")
    os.replace(tmp, final)
