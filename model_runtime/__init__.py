"""avatar.model_runtime."""
