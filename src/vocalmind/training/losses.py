"""Losses for single- and multi-task training with missing labels.

Targets travel as one float tensor ``(batch, n_tasks)``: a class index (as float) for a
classification task, a standardised score for a regression task, and ``NaN`` where the
label is missing. A missing label masks that head's loss for that example only; a head
with no label in a batch adds nothing (not NaN) to the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from vocalmind.errors import ParameterError

__all__ = ["TaskSpec", "MultiTaskLoss", "balanced_class_weights"]


@dataclass(frozen=True)
class TaskSpec:
    """One prediction task.

    Attributes
    ----------
    name : head name (a Python identifier, e.g. ``"phq8_band"``)
    kind : ``"classification"`` or ``"regression"``
    n_classes : number of classes (0 for regression)
    """

    name: str
    kind: str
    n_classes: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("classification", "regression"):
            raise ParameterError(f"TaskSpec: task {self.name!r}: kind {self.kind!r} is not "
                                 "'classification' or 'regression'")
        if self.kind == "classification" and self.n_classes < 2:
            raise ParameterError(
                f"TaskSpec: task {self.name!r} needs >= 2 classes, got {self.n_classes}; check "
                "the labels of the training rows (one class left after filtering?)"
            )

    @property
    def n_out(self) -> int:
        """Output units of the head (classes, or 1)."""
        return self.n_classes if self.kind == "classification" else 1


def balanced_class_weights(y: np.ndarray, n_classes: int) -> np.ndarray:
    """``n / (n_classes * count_c)`` per class, ignoring NaN; absent classes get 1.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)] class indices as floats, NaN = missing

    Returns
    -------
    np.ndarray [shape=(n_classes,)], float32

    Examples
    --------
    >>> balanced_class_weights(np.array([0, 0, 0, 1, np.nan]), 2).tolist()
    [0.6666666865348816, 2.0]
    """
    y = y[~np.isnan(y)].astype(int)
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    w = np.ones(n_classes)
    seen = counts > 0
    w[seen] = len(y) / (seen.sum() * counts[seen])
    return w.astype(np.float32)


class MultiTaskLoss(nn.Module):
    """Sum over tasks of the mean loss over examples that carry that task's label.

    Cross-entropy (optionally class-weighted) for classification, mean squared error for
    regression.

    Parameters
    ----------
    tasks : the tasks, in target-column order
    class_weights : task name -> weights ``(n_classes,)`` (classification only)
    label_smoothing : share of each classification target spread evenly over the classes
        (0 = none; :func:`torch.nn.functional.cross_entropy`'s ``label_smoothing``)

    Examples
    --------
    >>> loss = MultiTaskLoss([TaskSpec("a", "classification", 3), TaskSpec("b", "regression")])
    >>> out = {"a": torch.zeros(2, 3), "b": torch.zeros(2, 1)}
    >>> y = torch.tensor([[0.0, float("nan")], [float("nan"), float("nan")]])
    >>> total, parts = loss(out, y)
    >>> round(float(total), 4), parts["b"]
    (1.0986, 0.0)
    """

    def __init__(self, tasks: Sequence[TaskSpec],
                 class_weights: dict[str, np.ndarray] | None = None, *,
                 label_smoothing: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ParameterError(f"MultiTaskLoss: label_smoothing={label_smoothing} must be in [0, 1)")
        self.label_smoothing = float(label_smoothing)
        self.tasks = list(tasks)
        for t in self.tasks:
            w = (class_weights or {}).get(t.name)
            self.register_buffer(f"w_{t.name}",
                                 None if w is None else torch.as_tensor(w, dtype=torch.float32))

    def forward(self, outputs: dict[str, torch.Tensor], targets: torch.Tensor
                ) -> tuple[torch.Tensor, dict[str, float]]:
        """Total loss (scalar tensor) and the per-task values (floats, 0 when unlabelled)."""
        total = outputs[self.tasks[0].name].new_zeros(())
        parts: dict[str, float] = {}
        for j, t in enumerate(self.tasks):
            y = targets[:, j]
            ok = ~torch.isnan(y)
            if not bool(ok.any()):
                parts[t.name] = 0.0
                continue
            out = outputs[t.name][ok]
            if t.kind == "classification":
                w = getattr(self, f"w_{t.name}")
                loss = F.cross_entropy(out, y[ok].long(), weight=w,
                                       label_smoothing=self.label_smoothing)
            else:
                loss = F.mse_loss(out.squeeze(-1), y[ok])
            total = total + loss
            parts[t.name] = float(loss.detach())
        return total, parts
