"""Training, latent caching and consistency distillation (CPU with bf16, or torchrun DDP)."""
