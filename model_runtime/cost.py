"""FLOPs and CPU timings per network, per frame (the numbers in docs/MODEL.md).

Run: python -m avatar.model_runtime.cost [--threads 1 2] [--clip 8]
"""
import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from avatar.model_runtime.audio import AudioEncoder
from avatar.model_runtime.autoencoder import Autoencoder
from avatar.model_runtime.config import SAMPLES_PER_FRAME, AudioConfig, AutoencoderConfig, DenoiserConfig
from avatar.model_runtime.denoiser import DenoiserUNet, example_inputs


def networks(size: int, clip: int):
    """name -> (callable, frames per call); each callable runs one per-frame workload for a clip."""
    ae_cfg, au_cfg, dn_cfg = AutoencoderConfig(size=size), AudioConfig(), DenoiserConfig()
    ae, audio, unet = Autoencoder(ae_cfg).eval(), AudioEncoder(au_cfg).eval(), DenoiserUNet(dn_cfg).eval()
    # the deployed layout (AvatarModel): channels-last weights, bf16 cached reference maps
    cl = torch.channels_last
    ae.to(memory_format=cl)
    unet.to(memory_format=cl)
    hw = ae_cfg.latent_size
    with torch.no_grad():
        ref_maps = [m.bfloat16().contiguous(memory_format=cl) for m in ae.ref_encoder(torch.zeros(1, 3, size, size))]
    z = torch.randn(clip, ae_cfg.latent_channels, hw, hw).contiguous(memory_format=cl)
    ref_img = torch.zeros(1, 3, size, size).bfloat16().contiguous(memory_format=cl)
    ctx = au_cfg.context_frames
    wave = torch.randn(1, (clip + ctx) * SAMPLES_PER_FRAME + 1280)
    dn_in = example_inputs(dn_cfg, 1, clip, hw)
    params = {"audio_encoder": audio, "denoiser": unet, "decoder": ae.decoder,
              "encoder": ae.encoder, "ref_encoder": ae.ref_encoder}
    runs = {
        "audio_encoder": lambda: audio(wave, clip + ctx),
        "denoiser": lambda: unet(*dn_in),
        "decoder": lambda: ae.decode(z, ref_maps, ref_img),
        "encoder": lambda: ae.encoder(torch.zeros(clip, 3, size, size)),
    }
    return params, runs


def measure(size: int = 256, clip: int = 8, threads=(1, 2), repeats: int = 10) -> dict:
    params, runs = networks(size, clip)
    report = {}
    for name, fn in runs.items():
        with torch.no_grad():
            counter = FlopCounterMode(display=False)
            with counter:
                fn()
        row = {"params_M": sum(p.numel() for p in params[name].parameters()) / 1e6,
               "gflop_per_frame": counter.get_total_flops() / clip / 1e9}
        for n in threads:
            torch.set_num_threads(n)
            with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
                for _ in range(3):
                    fn()
                start = time.perf_counter()
                for _ in range(repeats):
                    fn()
            row[f"ms_per_frame_bf16_{n}t"] = (time.perf_counter() - start) / repeats / clip * 1000
        report[name] = row
    report["ref_encoder"] = {"params_M": sum(p.numel() for p in params["ref_encoder"].parameters()) / 1e6,
                             "note": "once per portrait"}
    return report


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--clip", type=int, default=8)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    torch.manual_seed(0)
    for name, row in measure(args.size, args.clip, tuple(args.threads)).items():
        print(name, {k: round(v, 3) if isinstance(v, float) else v for k, v in row.items()})


if __name__ == "__main__":
    main()
