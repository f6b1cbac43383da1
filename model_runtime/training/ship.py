"""Copy a trained bundle into the package as the default checkpoint (fp16 weights).

python -m avatar.model_runtime.training.ship RUN_DIR/model.safetensors [--corpus DIR] [--autoencoder AE]

With --corpus, a bundle without few-step schedules (a teacher) gets 1/2/4-step
consistency-sampling schedules chosen by latent error on the corpus (distill does the
same for students).
"""
import argparse
from pathlib import Path

from avatar.core.errors import InputError
from avatar.model_runtime.avatar_model import default_checkpoint
from avatar.model_runtime.checkpoint import bundle_networks, load_bundle, save_bundle
from avatar.model_runtime.training.clips import LatentClips
from avatar.model_runtime.training.distill import choose_schedules
from avatar.model_runtime.training.latents import checkpoint_tag


def add_schedules(source: str, corpus: str, config, states: dict) -> dict:
    audio, den = bundle_networks(config, states, "audio", "denoiser")
    data = LatentClips.for_model(corpus, checkpoint_tag(source), "train", config.denoiser, config.audio)
    config.student_sigmas, errors = choose_schedules(den.eval(), audio.eval(), data, config.edm)
    return errors


def ship(source: str, dest: str | None = None, corpus: str | None = None, autoencoder: str | None = None) -> str:
    """autoencoder: take the autoencoder from this bundle instead (a decoder fine-tuned with
    the encoder frozen; refused if its encoder differs, since the denoiser learned its latents)."""
    config, states, extra = load_bundle(source)
    if autoencoder:
        if checkpoint_tag(autoencoder) != checkpoint_tag(source):
            raise InputError(f"{autoencoder} has a different encoder than {source}")
        ae_config, ae_states, ae_extra = load_bundle(autoencoder)
        config.autoencoder, states["autoencoder"] = ae_config.autoencoder, ae_states["autoencoder"]
        extra["autoencoder_val"] = ae_extra.get("val")
    if corpus and not config.student_sigmas:
        extra["latent_mse"] = add_schedules(source, corpus, config, states)
    target = dest or str(default_checkpoint())
    Path(target).parent.mkdir(parents=True, exist_ok=True)
    save_bundle(target, {k: v for k, v in states.items() if v}, config, extra=extra, half=True)
    return target


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("source")
    ap.add_argument("--dest", default=None)
    ap.add_argument("--corpus", default=None, help="choose few-step schedules on this corpus if missing")
    ap.add_argument("--autoencoder", default=None, help="replace the autoencoder (same encoder only)")
    args = ap.parse_args()
    print(ship(args.source, args.dest, args.corpus, args.autoencoder))


if __name__ == "__main__":
    main()
