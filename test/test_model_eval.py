"""`avatar eval --model`: held-out corpus clips are generated from their gt conditions and scored.

A two-clip corpus is rendered here (64², 6 s) and a tiny random model generates it: this checks
the plumbing (conditions in, one frame per gt frame, every summary key, CLI), not quality.
"""
import json

import cv2
import numpy as np
import pytest
from engine_fixtures import save_tiny_checkpoint, tiny_model

from avatar.cli.main import main
from avatar.model_runtime.corpus import clip as corpus_clip
from avatar.model_runtime.corpus.identity import sample_identity
from avatar.model_runtime.corpus.reader import open_corpus
from avatar.model_runtime.corpus.render import FaceRenderer
from avatar.model_runtime.evaluation import estimator
from avatar.model_runtime.evaluation.model_eval import ModelEvalConfig, evaluate_model, format_summary



@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    (root / "identities").mkdir()
    names = []
    for i in range(2):
        ident = sample_identity(f"id{i:05d}", np.random.default_rng(100 + i))
        name = f"c{i:05d}"
        corpus_clip.render_clip(corpus_clip.ClipSpec(name, "test", ident, (77, i), 6.0, 64, str(root / "test" / name)))
        portrait = FaceRenderer(ident, 64).portrait()
        cv2.imwrite(str(root / "identities" / f"{ident.name}.png"), cv2.cvtColor(portrait, cv2.COLOR_RGB2BGR))
        (root / "identities" / f"{ident.name}.json").write_text(json.dumps(ident.to_json()))
        names.append(name)
    (root / "meta.json").write_text(json.dumps({"splits": {"test": names}}))
    return root


def test_evaluate_model_generates_every_gt_frame(corpus):
    report = evaluate_model(tiny_model(64), open_corpus(corpus), estimator.load_estimator(),
                            ModelEvalConfig(clips=2, steps=(1, 2)), log=None)
    assert set(report["per_steps"]) == {1, 2}
    for steps, summary in report["per_steps"].items():
        assert summary["clips"] == 2 and summary["fps"] > 0
        assert -1.0 <= summary["sync_r"] <= 1.0 and summary["flicker"] >= 0
        assert len(report["clips"][steps]) == 2
    assert "| sync_r |" in format_summary(report)


def test_cli_model_json(corpus, tmp_path, capsys):
    ckpt = save_tiny_checkpoint(tmp_path / "tiny.safetensors")
    assert main(["eval", "--model", ckpt, "--corpus", str(corpus), "--clips", "1", "--sample-steps", "2",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["per_steps"]["2"]["clips"] == 1 and out["checkpoint"] == ckpt
