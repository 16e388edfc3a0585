"""Picklable pieces shared by the distributed tests (a slow feature set, a search objective)."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from vocalmind.features.base import FeatureSet


class SlowStats(FeatureSet):
    """Three deterministic statistics of the signal, plus a delay so a run can be interrupted."""

    name = "slow_stats"

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__(delay_s=delay_s)
        self.delay_s = delay_s

    def names(self) -> list[str]:
        return ["rms", "mean_abs", "zcr"]

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        time.sleep(self.delay_s)
        y = y.astype(np.float64)
        zcr = float(np.mean(np.abs(np.diff(np.signbit(y).astype(int)))))
        return np.array([np.sqrt(np.mean(y**2)), np.mean(np.abs(y)), zcr])


def quadratic_objective(params: dict[str, Any], report: Any, *, delay_s: float = 0.0) -> float:
    """A learning curve that rises towards 1 - (x - 0.3)^2 over 9 epochs."""
    target = 1.0 - (params["x"] - 0.3) ** 2 - 0.1 * params["depth"]
    value = 0.0
    for epoch in range(1, 10):
        time.sleep(delay_s)
        value = target * (1 - 0.5**epoch)
        if report(epoch, value):
            break
    return value


def boom(x: int) -> int:
    """x squared, except 3, which raises."""
    if x == 3:
        raise ValueError("three is not allowed")
    return x * x
