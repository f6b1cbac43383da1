"""Weight-free evaluation: the face-parameter estimator and the `avatar eval` metrics.

Library entry point for the model card and benchmarks (no MP4 needed):

    from avatar.model_runtime.evaluation import evaluate_video
    result = evaluate_video(frames_uint8_THW3, speech_16k_float32, gt_dict, reference_rgb)
"""
from avatar.model_runtime.evaluation.estimator import estimate, load_estimator
from avatar.model_runtime.evaluation.report import format_table
from avatar.model_runtime.evaluation.runner import evaluate_video

__all__ = ["evaluate_video", "estimate", "format_table", "load_estimator"]
