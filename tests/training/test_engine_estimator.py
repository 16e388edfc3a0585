"""Training engine (resume, history, plots) and the DeepEstimator integration point."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vocalmind.errors import ModelError
from vocalmind.models import build_model
from vocalmind.training.data import UnitDataset, Units
from vocalmind.training.engine import TrainConfig, train_model
from vocalmind.training.estimator import DeepEstimator
from vocalmind.training.losses import TaskSpec

TINY = {"segment_s": 0.5, "channels": 8, "lstm_hidden": 8, "n_res_blocks": 1}


def _datasets(seed: int = 0) -> tuple[UnitDataset, UnitDataset]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((40, 50)).astype(np.float32) for _ in range(24)]
    y = np.array([[i % 2] for i in range(24)], dtype=np.float32)
    for a, t in zip(arrays, y, strict=True):
        a[:10] += 2 * t[0]
    units = Units(arrays, np.arange(24), [[i] for i in range(24)])
    tr = UnitDataset(units.subset_items(list(range(16))), y[:16])
    va = UnitDataset(units.subset_items(list(range(16, 24))), y[16:])
    return tr, va


def _train(run_dir, callbacks=()) -> torch.nn.Module:
    torch.manual_seed(0)
    model = build_model("cnn_lstm", heads={"y": 2}, channels=8, lstm_hidden=8, n_res_blocks=1)
    tr, va = _datasets()
    cfg = TrainConfig(epochs=4, batch_size=4, seed=0, n_threads=1, patience=0, progress=False)
    train_model(model, tr, va, tasks=[TaskSpec("y", "classification", 2)], config=cfg,
                run_dir=run_dir, callbacks=callbacks)
    return model


def test_resume_after_interruption_gives_same_weights(tmp_path) -> None:
    ref = _train(tmp_path / "a")

    def crash(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill after epoch 2")

    with pytest.raises(KeyboardInterrupt):
        _train(tmp_path / "b", callbacks=[crash])
    assert (tmp_path / "b" / "checkpoint.pt").exists()
    resumed = _train(tmp_path / "b")
    for (k, v), (_, w) in zip(ref.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(v, w), k
    hist = pd.read_csv(tmp_path / "b" / "history.csv")
    assert hist["epoch"].tolist() == [1, 2, 3, 4]
    plots = {p.name for p in (tmp_path / "b" / "plots").iterdir()}
    assert {"loss.png", "metric.png", "roc_y.png", "embedding_y.png"} <= plots


def test_checkpoint_of_another_run_is_refused(tmp_path) -> None:
    _train(tmp_path)
    model = build_model("cnn_lstm", heads={"y": 3}, channels=8, lstm_hidden=8, n_res_blocks=1)
    tr, va = _datasets()
    with pytest.raises(ModelError, match="another run"):
        train_model(model, tr, va, tasks=[TaskSpec("y", "classification", 3)],
                    config=TrainConfig(epochs=4, n_threads=1, progress=False), run_dir=tmp_path)


def test_estimator_learns_saves_and_loads(clips: pd.DataFrame, tmp_path) -> None:
    est = DeepEstimator("cnn_lstm", "classification", params=TINY, epochs=12, batch_size=4,
                        lr=3e-3, seed=0, n_threads=1, patience=0, progress=False,
                        run_dir=tmp_path / "run")
    est.fit(clips, clips["label"], groups=clips["subject"])
    assert list(est.classes_) == ["hi", "lo"]
    pred = est.predict(clips)
    assert pred.shape == (12,) and (pred == clips["label"].to_numpy()).mean() >= 0.9
    proba = est.predict_proba(clips)
    assert proba.shape == (12, 2) and np.allclose(proba.sum(1), 1)
    assert len(est.history_) == 12 and "val_loss" in est.history_[0]
    assert (tmp_path / "run" / "model.pt").exists()
    est.save(tmp_path / "m.pt")
    back = DeepEstimator.load(tmp_path / "m.pt")
    assert np.allclose(back.predict_proba(clips), proba, atol=1e-6)
    with pytest.raises(ModelError):
        DeepEstimator.load(tmp_path / "missing.pt")


def test_estimator_multitask_regression_missing_labels(clips: pd.DataFrame) -> None:
    y = pd.DataFrame({"phq": clips["score"], "gad": clips["score"] * 2})
    y.loc[[0, 3, 5], "gad"] = np.nan
    est = DeepEstimator("cnn_lstm", "regression", params=TINY, epochs=2, batch_size=4,
                        n_threads=1, progress=False).fit(clips, y, groups=clips["subject"])
    pred = est.predict(clips)
    assert pred.shape == (12, 2) and np.isfinite(pred).all()


def test_transfer_swaps_head_and_freezes(clips: pd.DataFrame, tmp_path) -> None:
    src = DeepEstimator("cnn_lstm", "classification", params=TINY, epochs=1, batch_size=4,
                        n_threads=1, progress=False).fit(clips, clips["label"])
    src.save(tmp_path / "src.pt")
    before = {k: v.clone() for k, v in src.model_.state_dict().items() if k.startswith("stem.")}
    y3 = np.array(["a", "b", "c"] * 4)
    dst = DeepEstimator("cnn_lstm", "classification", params=TINY, epochs=2, batch_size=4,
                        n_threads=1, progress=False, init_from=tmp_path / "src.pt",
                        freeze_layers=["stem.*"]).fit(clips, y3)
    assert dst.model_.heads["target"].out_features == 3
    for k, v in before.items():
        assert torch.equal(dst.model_.state_dict()[k], v), k
    assert dst.predict_proba(clips).shape == (12, 3)


@pytest.mark.parametrize("family,params", [
    ("melcnn", {"base_channels": 4, "chunk_s": 0.5}),
    ("melcnn", {"base_channels": 4, "input_mode": "resize", "augment": False}),
    ("wavelet", {"segment_s": 0.5, "filters": 4, "gru_hidden": 8, "depth": 2}),
])
def test_other_families_fit_predict(clips: pd.DataFrame, family: str, params: dict) -> None:
    est = DeepEstimator(family, "classification", params=params, epochs=1, batch_size=4,
                        n_threads=1, progress=False).fit(clips, clips["label"])
    assert est.predict_proba(clips).shape == (12, 2)


def test_ssl_attention_subject_sequences(clips: pd.DataFrame, tmp_path,
                                        tiny_wav2vec2: str) -> None:
    params = {"encoder_path": tiny_wav2vec2, "segment_s": 0.5, "sequence": "subject",
              "max_segments": 3, "cnn_channels": (8, 8, 8), "lstm_hidden": 8,
              "freeze": "last"}
    est = DeepEstimator("ssl_attention", "classification", params=params, epochs=1,
                        batch_size=2, n_threads=1, progress=False).fit(clips, clips["label"])
    proba = est.predict_proba(clips)
    assert proba.shape == (12, 2)
    # one prediction per subject: both rows of a subject agree
    assert np.allclose(proba[0::2], proba[1::2])
    est.save(tmp_path / "ssl.pt")
    assert np.allclose(DeepEstimator.load(tmp_path / "ssl.pt").predict_proba(clips), proba,
                       atol=1e-6)


def test_refit_trains_on_every_subject_for_the_chosen_epochs(clips: pd.DataFrame, tmp_path) -> None:
    est = DeepEstimator("cnn_lstm", "classification", params=TINY, epochs=6, batch_size=4,
                        lr=3e-3, seed=0, n_threads=1, patience=0, progress=False,
                        run_dir=tmp_path / "run", refit=True)
    est.fit(clips, clips["label"], groups=clips["subject"])
    losses = [r["val_loss"] for r in est.history_]
    assert est.refit_epoch_ == int(np.argmin(losses)) + 1  # early stopping's choice
    refit_hist = pd.read_csv(tmp_path / "run" / "refit" / "history.csv")
    assert len(refit_hist) == est.refit_epoch_ and "val_loss" not in refit_hist
    # without refit the early-stopped weights are kept: the two models differ
    plain = DeepEstimator("cnn_lstm", "classification", params=TINY, epochs=6, batch_size=4,
                          lr=3e-3, seed=0, n_threads=1, patience=0, progress=False)
    plain.fit(clips, clips["label"], groups=clips["subject"])
    assert plain.refit_epoch_ is None
    a, b = est.predict_proba(clips), plain.predict_proba(clips)
    assert a.shape == b.shape and not np.allclose(a, b)
    back = DeepEstimator.load(tmp_path / "run" / "model.pt")
    assert np.allclose(back.predict_proba(clips), a, atol=1e-6)
