"""Which frames the next clip covers, and how hard to work on it.

Pure logic, no threads: the engine asks ``plan`` for the next clip given what
audio exists and how late it is. Clips are short right after a start or a state
switch (fast first response), longer in steady state (batching efficiency), and
never cross a state switch. When compute falls behind the audio clock the plan
degrades on purpose: fewer sampling steps first, then skipped frames.
"""
from dataclasses import dataclass

# Steady-state clip length of the live node (frame_generator's `clip`, config/avatar.yaml): a
# frame waits for its whole clip, so live clips are short (latency). Offline rendering keeps
# PlannerConfig.clip, twice as long, for throughput. Two parameters, not one default.
LIVE_CLIP = 4


@dataclass(frozen=True)
class PlannerConfig:
    first_clip: int = 2        # frames after start / a state switch
    clip: int = 8              # frames in steady state (offline: throughput; live: LIVE_CLIP)
    steps: int = 2
    min_steps: int = 1
    degrade_lag_ms: float = 200.0   # later than this: use min_steps
    skip_lag_ms: float = 600.0      # later than this: skip frames to catch up

    def __post_init__(self):
        if not 1 <= self.first_clip <= self.clip:
            raise ValueError("need 1 <= first_clip <= clip")
        if not 1 <= self.min_steps <= self.steps:
            raise ValueError("need 1 <= min_steps <= steps")


@dataclass(frozen=True)
class ClipPlan:
    start: int          # first frame index
    n: int              # frames
    steps: int
    skipped: int = 0    # frames before ``start`` given up to catch up (repeat the last frame)

    @property
    def degraded(self) -> bool:
        return self.skipped > 0


class ClipPlanner:
    def __init__(self, config: PlannerConfig):
        self.config = config
        self.fresh = True   # the next clip starts a new segment

    def plan(self, next_frame: int, next_switch: int | None, lag_ms: float = 0.0,
             frames_per_ms: float = 0.025) -> ClipPlan:
        """Plan the clip starting at ``next_frame``.

        ``next_switch``: the first frame of a known later state change (clip stops there).
        ``lag_ms``: how far generation is behind the audio clock (live only; 0 offline).
        """
        cfg = self.config
        skipped = 0
        if lag_ms > cfg.skip_lag_ms:
            skipped = int((lag_ms - cfg.degrade_lag_ms) * frames_per_ms)
            if next_switch is not None:
                skipped = min(skipped, max(0, next_switch - next_frame))
        start = next_frame + skipped
        n = cfg.first_clip if self.fresh else cfg.clip
        if next_switch is not None and next_switch > start:
            n = min(n, next_switch - start)
        steps = cfg.min_steps if lag_ms > cfg.degrade_lag_ms else cfg.steps
        return ClipPlan(start=start, n=max(1, n), steps=steps, skipped=skipped)

    def commit(self, plan: ClipPlan, next_switch: int | None) -> None:
        """``plan`` was submitted: the clip after it is fresh if it starts at a switch."""
        self.fresh = next_switch is not None and plan.start + plan.n >= next_switch

    def restart(self) -> None:
        """Next clip is a fresh start (state switch, new portrait, stream restart)."""
        self.fresh = True
