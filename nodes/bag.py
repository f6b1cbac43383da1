"""rosbag2 glue of the recorder node: ``McapBag`` writes already-serialised (CDR) messages
into a rosbag2 MCAP bag with the ``rosbags`` library, so recording needs no ROS storage
plugins; ``typestore_with_msgs`` knows this package's message types."""
import os
import sys
import threading
from pathlib import Path

from rosbags.rosbag2 import StoragePlugin, Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from avatar.core.errors import InputError


def default_msg_dirs() -> list[Path]:
    """Where our .msg files are: share/avatar/msg of this prefix or an ament prefix, else the checkout."""
    prefixes = [sys.prefix] + [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    return [Path(p) / "share" / "avatar" / "msg" for p in prefixes] + [Path(__file__).resolve().parents[1] / "msg"]


def typestore_with_msgs(msg_dirs: list[Path] | None = None, package: str = "avatar"):
    """A rosbags Jazzy typestore plus this package's .msg types (from the first dir that has them)."""
    store = get_typestore(Stores.ROS2_JAZZY)
    msg_dirs = default_msg_dirs() if msg_dirs is None else msg_dirs
    for msg_dir in msg_dirs:
        files = sorted(Path(msg_dir).glob("*.msg"))
        if not files:
            continue
        types = {}
        for f in files:
            types.update(get_types_from_msg(f.read_text(), f"{package}/msg/{f.stem}"))
        store.register(types)
        return store
    raise InputError(f"no {package} .msg definitions found in {[str(d) for d in msg_dirs]}")


class McapBag:
    """rosbag2 (MCAP storage) writer for raw CDR messages. Thread-safe."""

    def __init__(self, path: str, typestore):
        if Path(path).exists():
            raise InputError(f"{path} exists: rosbag2 bags are directories and are never overwritten")
        self._store = typestore
        self._writer = Writer(path, version=9, storage_plugin=StoragePlugin.MCAP)
        self._writer.open()
        self._connections = {}
        self._lock = threading.Lock()
        self._closed = False
        self.counts: dict[str, int] = {}

    def add_topic(self, topic: str, msgtype: str) -> None:
        with self._lock:
            self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self._store)
            self.counts[topic] = 0

    def write(self, topic: str, stamp_ns: int, cdr: bytes) -> None:
        with self._lock:
            if self._closed:
                return
            self._writer.write(self._connections[topic], stamp_ns, cdr)
            self.counts[topic] += 1

    def close(self) -> None:
        with self._lock:
            if not self._closed:
                self._closed = True
                self._writer.close()
