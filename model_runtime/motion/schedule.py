"""Choose the distilled student's 2- and 4-step sigma schedules on validation clips.

A consistency model jumps from sigma_max to a clean estimate, then re-noises to the next sigma of
its schedule. Which intermediate sigmas work best is an empirical question (Song et al. 2023 pick
them by FID with a greedy search); here the criterion is the evaluation itself: the summed
relative amount by which it is worse than the teacher (Heun, 16 steps) on the metrics the student
must match (evaluate.relative_gaps).
"""
from __future__ import annotations

import copy
import math

from .data import MotionArrays
from .evaluate import TEACHER_STEPS, evaluate_generator, ground_truth_rates, relative_gaps
from .generator import MotionGenerator

CANDIDATES = {
    "2": [[80.0, s, 0.0] for s in (0.5, 1.0, 1.5, 3.0, 6.0)],
    "4": [[80.0, 5.0, 1.5, 0.4, 0.0], [80.0, 3.0, 1.0, 0.3, 0.0], [80.0, 10.0, 3.0, 1.0, 0.0],
          [80.0, 2.0, 0.8, 0.2, 0.0]],
}
SELECT_GAPS = ("jaw.r_lag0", "rounding.r_lag0", "still_ratio.listening", "still_ratio.idle",
               "blinks_per_min.idle", "blinks_per_min.listening", "blinks_per_min.speaking",
               "nods_per_min.listening")


def subset(data: MotionArrays, clips: int) -> MotionArrays:
    clips = min(clips, len(data))
    end = int(data.starts[clips])
    return MotionArrays(data.motion[:end], data.target[:end], data.expr[:end], data.state[:end],
                        data.tokens[:end], data.starts[:clips + 1], data.clip_ids[:clips])


def gap_score(report: dict, teacher: dict, truth: dict | None = None) -> float:
    gaps = relative_gaps(report, teacher, truth)
    return float(sum(gaps[k] for k in SELECT_GAPS if k in gaps and math.isfinite(gaps[k])))


def choose_schedules(student: MotionGenerator, teacher: MotionGenerator, data: MotionArrays,
                     log=print) -> tuple[dict, dict]:
    """-> (schedules {"1","2","4"}, {steps: [(score, sigmas), ...]}) on ``data`` (a few val clips)."""
    ref = evaluate_generator(teacher, data, TEACHER_STEPS, drift=False)
    truth = ground_truth_rates(data)
    chosen, tried = dict(student.cfg.student_sigmas), {}
    for steps, candidates in CANDIDATES.items():
        scores = []
        for sigmas in candidates:
            trial = copy.copy(student)
            trial.cfg = copy.deepcopy(student.cfg)
            trial.cfg.student_sigmas = {**chosen, steps: sigmas}
            report = evaluate_generator(trial, data, int(steps), drift=False)
            scores.append((gap_score(report, ref, truth), sigmas))
            if log:
                log(f"schedule {steps} steps {sigmas}: summed gap {scores[-1][0]:.3f}")
        chosen[steps] = min(scores, key=lambda s: s[0])[1]
        tried[steps] = scores
    return chosen, tried

