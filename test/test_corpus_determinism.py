"""Same seed, same corpus: gt.json, WAVs and MP4 bytes, whatever the worker count."""
import hashlib

from corpus_helpers import build_small


def _digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file() and p.name not in ("meta.json",)}


def test_same_seed_gives_identical_files(tmp_path):
    a = build_small(tmp_path / "a", seed=11, workers=1, hours=0.004)
    b = build_small(tmp_path / "b", seed=11, workers=2, hours=0.004)
    assert a["splits"] == b["splits"] and a["identities"] == b["identities"]
    da, db = _digests(tmp_path / "a"), _digests(tmp_path / "b")
    assert da.keys() == db.keys()
    assert any(k.endswith("video.mp4") for k in da)
    assert da == db


def test_other_seed_differs(tmp_path):
    a = build_small(tmp_path / "a", seed=11, hours=0.002)
    b = build_small(tmp_path / "b", seed=12, hours=0.002)
    ga = {p.read_bytes() for p in (tmp_path / "a").rglob("gt.json")}
    gb = {p.read_bytes() for p in (tmp_path / "b").rglob("gt.json")}
    assert ga and gb and not ga & gb
