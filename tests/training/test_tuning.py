"""ASHA tuning of deep estimators: per-epoch reports, subject-grouped inner folds, records,
and the experiment runner's ``model.search``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from vocalmind.errors import ConfigError
from vocalmind.training.engine import iter_train
from vocalmind.training.estimator import DeepEstimator
from vocalmind.training.losses import TaskSpec
from vocalmind.training.tuning import asha_tune, epoch_score, inner_folds

POLICY = {"min_resource": 1, "reduction_factor": 2, "max_resource": 4}


class FakeEstimator(DeepEstimator):
    """Trains nothing: the validation UAR after epoch e is ``q * e / epochs`` (param q)."""

    calls: list[dict[str, Any]] = []

    def fit_epochs(self, X: pd.DataFrame, y: Any, groups: Any = None, *,
                   validation: tuple[pd.DataFrame, Any] | None = None):
        assert validation is not None
        name = str(y.columns[0]) if isinstance(y, pd.DataFrame) else "target"
        self.tasks_ = [TaskSpec(name, "classification", 2)]
        FakeEstimator.calls.append({"train": set(X["subject"]), "val": set(validation[0]["subject"]),
                                    "y": y, "epochs": self.epochs, "patience": self.patience})
        q = float(self.params["q"])
        for e in range(1, self.epochs + 1):
            yield {"epoch": e, f"val_{name}_bacc": q * e / self.epochs, "val_loss": 1.0}


def _rows(n_subjects: int = 6, per: int = 4) -> tuple[pd.DataFrame, np.ndarray]:
    subj = np.repeat([f"s{i}" for i in range(n_subjects)], per)
    X = pd.DataFrame({"file": [f"f{i}.wav" for i in range(len(subj))], "subject": subj})
    y = np.array(["a", "b"] * (len(subj) // 2), dtype=object)
    return X, y


def test_epoch_score_uar_with_tiebreak_and_minus_mae() -> None:
    assert epoch_score({"val_e_bacc": 0.75, "val_loss": 0.0}, "e", "classification") == 0.75
    assert epoch_score({"val_e_bacc": 0.75, "val_loss": 50.0}, "e", "classification") == \
        pytest.approx(0.749)
    assert epoch_score({"val_s_mae": 2.5}, "s", "regression") == -2.5
    with pytest.raises(ConfigError, match="no 'e' label"):
        epoch_score({"val_loss": 1.0}, "e", "classification")


def test_inner_folds_are_grouped_and_cover_everyone() -> None:
    X, y = _rows(7)
    groups = X["subject"].to_numpy()
    folds = inner_folds(y, groups, n_splits=3, seed=0, task="classification")
    assert len(folds) == 3
    for tr, va in folds:
        assert not set(groups[tr]) & set(groups[va])
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(len(X)))
    assert len(inner_folds(y, groups, n_splits=10, seed=0, task="regression")) == 7
    with pytest.raises(ConfigError, match="at least 2 subjects"):
        inner_folds(y[:4], groups[:4], n_splits=3, seed=0, task="classification")


def test_asha_prunes_poor_trials_and_records_everything(tmp_path: Path) -> None:
    FakeEstimator.calls = []
    X, y = _rows()
    best = asha_tune(lambda p: FakeEstimator("melcnn", params=p, epochs=30, patience=5), X, y,
                     X["subject"].to_numpy(), space={"q": {"type": "float", "low": 0.1,
                                                           "high": 1.0}},
                     n_trials=8, policy=POLICY, sampler="random", inner_splits=3, seed=0,
                     run_dir=tmp_path / "s", task="classification")
    trials = pd.read_csv(tmp_path / "s" / "trials.csv")
    assert len(trials) == 8 and (trials["state"] == "PRUNED").any()
    done = trials[trials["state"] == "COMPLETE"]
    assert best["q"] == pytest.approx(done.loc[done["value"].idxmax(), "params_q"])
    assert best["q"] == pytest.approx(trials["params_q"].max())  # the best is never pruned
    decisions = [json.loads(line) for line in
                 (tmp_path / "s" / "decisions.jsonl").read_text().splitlines()]
    assert any(d["pruned"] for d in decisions)
    assert max(d["step"] for d in decisions) == 4  # epochs = the policy's max_resource
    assert json.loads((tmp_path / "s" / "best.json").read_text())["best_params"] == best
    # every trial trains 3 subject-disjoint folds, with early stopping off
    assert len(FakeEstimator.calls) == 8 * 3
    for c in FakeEstimator.calls:
        assert not c["train"] & c["val"] and c["epochs"] == 4 and c["patience"] == 0


def test_multitask_labels_reach_the_folds_as_tables(tmp_path: Path) -> None:
    FakeEstimator.calls = []
    X, y = _rows()
    Y = pd.DataFrame({"phq9_band": y, "gad7_band": y[::-1]})
    asha_tune(lambda p: FakeEstimator("cnn_lstm", params=p), X, Y, X["subject"].to_numpy(),
              space={"q": {"type": "categorical", "choices": [0.2, 0.9]}}, n_trials=2,
              policy=POLICY, sampler="random", inner_splits=2, seed=0,
              run_dir=tmp_path / "mt", task="classification")
    got = FakeEstimator.calls[0]["y"]
    assert isinstance(got, pd.DataFrame) and list(got.columns) == ["phq9_band", "gad7_band"]


def test_reserved_settings_cannot_be_searched(tmp_path: Path) -> None:
    X, y = _rows()
    with pytest.raises(ConfigError, match="epochs are the ASHA resource"):
        asha_tune(lambda p: FakeEstimator("melcnn", params=p), X, y, X["subject"].to_numpy(),
                  space={"epochs": {"type": "int", "low": 1, "high": 5}}, n_trials=2,
                  policy=POLICY, sampler="random", inner_splits=2, seed=0,
                  run_dir=tmp_path / "r", task="classification")


def test_fit_with_validation_set_and_callbacks(clips: pd.DataFrame) -> None:
    est = DeepEstimator("melcnn", params={"n_blocks": 3, "base_channels": 4, "augment": False},
                        epochs=3, batch_size=4, n_threads=1, patience=0, progress=False)
    seen: list[int] = []
    tr, va = clips[clips["subject"] != "s0"], clips[clips["subject"] == "s0"]
    est.fit(tr, tr["label"], validation=(va, va["label"]),
            callbacks=[lambda e, row: seen.append(e)])
    assert seen == [1, 2, 3] and len(est.history_) == 3
    assert "val_label_bacc" in est.history_[0]
    # a callback that raises stops training at once
    with pytest.raises(RuntimeError, match="stop"):
        est.fit(tr, tr["label"], callbacks=[lambda e, row: (_ for _ in ()).throw(
            RuntimeError("stop"))])


def test_iter_train_closed_early_writes_nothing(tmp_path: Path) -> None:
    from vocalmind.models import build_model
    from vocalmind.training.data import UnitDataset, Units
    from vocalmind.training.engine import TrainConfig

    rng = np.random.default_rng(0)
    units = Units([rng.standard_normal((40, 20)).astype(np.float32) for _ in range(8)],
                  np.arange(8), [[i] for i in range(8)])
    ds = UnitDataset(units, np.array([[i % 2] for i in range(8)], dtype=np.float32))
    model = build_model("cnn_lstm", heads={"y": 2}, channels=4, lstm_hidden=4, n_res_blocks=1)
    cfg = TrainConfig(epochs=5, batch_size=4, n_threads=1, patience=0, progress=False)
    gen = iter_train(model, ds, ds, tasks=[TaskSpec("y", "classification", 2)], config=cfg,
                     run_dir=tmp_path / "r")
    rows = [next(gen), next(gen)]
    gen.close()
    assert [r["epoch"] for r in rows] == [1, 2] and "val_y_bacc" in rows[0]
    assert (tmp_path / "r" / "checkpoint.pt").is_file()  # resumable...
    assert not (tmp_path / "r" / "history.csv").exists()  # ...but not finished


def test_experiment_runner_searches_inside_each_fold(tone_cohort: pd.DataFrame,
                                                      tmp_path: Path) -> None:
    from vocalmind.config import load_config
    from vocalmind.corpora import write_manifest
    from vocalmind.experiment import run_experiment

    path = write_manifest(tone_cohort, tmp_path / "m.csv")
    raw = {"name": "asha", "corpus": {"manifest": str(path)}, "task": {"label": "emotion"},
           "model": {"name": "melcnn",
                     "params": {"n_blocks": 3, "base_channels": 4, "augment": False},
                     "training": {"epochs": 2, "batch_size": 8, "n_threads": 1, "patience": 0},
                     "search": {"space": {"lr": {"type": "loguniform", "low": 1e-5,
                                                 "high": 3e-2}},
                                "n_trials": 4, "inner_splits": 2,
                                "policy": {"min_resource": 1, "reduction_factor": 2,
                                           "max_resource": 3}}},
           "protocol": {"name": "group_kfold", "params": {"n_splits": 2}},
           "evaluation": {"n_boot": 20}}
    res = run_experiment(load_config(raw=raw), out=tmp_path / "run")
    states = []
    for name in ("fold_0", "fold_1", "final"):
        d = res.run_dir / "search" / name
        assert (d / "decisions.jsonl").is_file() and (d / "best.json").is_file()
        trials = pd.read_csv(d / "trials.csv")
        assert len(trials) == 4
        states += trials["state"].tolist()
    assert "PRUNED" in states
    pruned = [json.loads(x) for x in
              (res.run_dir / "search" / "fold_0" / "decisions.jsonl").read_text().splitlines()]
    assert {"trial", "step", "value", "rung", "pruned"} <= set(pruned[0])
    tuned = res.metrics["tuned_params_per_fold"]
    assert [t["fold"] for t in tuned] == [0, 1] and all(1e-5 <= t["lr"] <= 3e-2 for t in tuned)
