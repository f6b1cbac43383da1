"""The motion generator (docs/MODEL.md, Motion generator): EDM diffusion over face-motion clips, its corpus, training,
distillation, runtime and evaluation."""
