"""The motion generator (SPEC 5b): EDM diffusion over face-motion clips, its corpus, training,
distillation, runtime and evaluation."""
