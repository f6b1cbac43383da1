"""The offline engine, set up once: every caller that renders known inputs to frames
(avatar render, avatar eval, the long run, the GPU check's executor comparison).

Imports no PyAV, VAD or ROS (the GPU check's machine has none of them).
"""
import numpy as np

from avatar.model_runtime.engine.planner import PlannerConfig
from avatar.model_runtime.engine.streaming import EngineConfig, StreamingEngine
from avatar.model_runtime.engine.timeline import FrameInputs


def offline_engine(renderer, motion, image: np.ndarray, steps: int = PlannerConfig.steps, seed: int = 0,
                   clip: int = PlannerConfig.clip, max_side: int = 1024, framing: str = "face",
                   portraits=None) -> StreamingEngine:
    """An engine for offline rendering (``engine.render(FrameInputs)``): ``steps`` sampler steps for
    every clip (no degradation), steady clips of ``clip`` frames."""
    cfg = EngineConfig(planner=PlannerConfig(steps=steps, min_steps=min(steps, 1), clip=clip), seed=seed,
                       max_side=max_side, framing=framing)
    return StreamingEngine(renderer, motion, image, cfg, portraits=portraits)


def render_frames(engine: StreamingEngine, inputs: FrameInputs) -> np.ndarray:
    """Every frame of ``inputs`` through an offline engine: (T, H, W, 3) uint8 RGB."""
    return np.stack([frame.rgb for frame in engine.render(inputs)])
