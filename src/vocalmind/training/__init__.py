"""Training of the deep model families: one engine, data pipeline, losses, transfer.

- :mod:`vocalmind.training.estimator`: :class:`DeepEstimator`, the scikit-learn style entry
  point (``fit`` / ``predict`` / ``predict_proba`` / ``save`` / ``load``);
- :mod:`vocalmind.training.engine`: the training loop (seeding, early stopping,
  checkpoint/resume, history, plots);
- :mod:`vocalmind.training.data`: manifest rows -> model inputs (+ augmentation, inner
  subject-grouped validation split);
- :mod:`vocalmind.training.losses`: multi-task loss with missing labels, class weights;
- :mod:`vocalmind.training.transfer`: head swapping and layer freezing;
- :mod:`vocalmind.training.distill`: an out-of-fold Whisper linear teacher for distillation;
- :mod:`vocalmind.training.search`: ASHA search (space as data, policy, records);
- :mod:`vocalmind.training.tuning`: :func:`asha_tune`, ASHA over epochs for a deep
  estimator on inner subject-grouped folds (the runner's ``model.search``).

Importing this package does not import torch; the names below load on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["DeepEstimator", "TrainConfig", "train_model", "iter_train", "TaskSpec",
           "MultiTaskLoss", "asha_tune"]

_WHERE = {"DeepEstimator": "estimator", "TrainConfig": "engine", "train_model": "engine",
          "iter_train": "engine", "TaskSpec": "losses", "MultiTaskLoss": "losses",
          "asha_tune": "tuning"}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f"vocalmind.training.{_WHERE[name]}"), name)
    raise AttributeError(f"module 'vocalmind.training' has no attribute {name!r}")
