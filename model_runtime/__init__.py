"""avatar.model_runtime."""
from avatar.model_runtime import mediapipe_compat

mediapipe_compat.install()
