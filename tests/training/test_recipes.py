"""Training recipes and speed work: length batching, batched prediction of unequal units,
label smoothing, mixup, schedules, weight averaging, SpecAugment masks, once-only
speed/pitch perturbation, device choice, resume with every recipe on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from vocalmind.errors import ConfigError
from vocalmind.models import build_model
from vocalmind.training import engine as engine_mod
from vocalmind.training.data import (
    UnitDataset,
    Units,
    build_units,
    perturb_signal,
    perturbation_variants,
    spec_augment,
    split_params,
)
from vocalmind.training.engine import (
    LengthBatchSampler,
    TrainConfig,
    lr_factor,
    predict_units,
    resolve_device,
    train_model,
)
from vocalmind.training.estimator import DeepEstimator
from vocalmind.training.losses import MultiTaskLoss, TaskSpec

TINY = {"segment_s": 0.5, "channels": 8, "lstm_hidden": 8, "n_res_blocks": 1}
TASK = [TaskSpec("y", "classification", 2)]


def _datasets(seed: int = 0) -> tuple[UnitDataset, UnitDataset]:
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal((40, 50)).astype(np.float32) for _ in range(24)]
    y = np.array([[i % 2] for i in range(24)], dtype=np.float32)
    for a, t in zip(arrays, y, strict=True):
        a[:10] += 2 * t[0]
    units = Units(arrays, np.arange(24), [[i] for i in range(24)])
    return (UnitDataset(units.subset_items(list(range(16))), y[:16]),
            UnitDataset(units.subset_items(list(range(16, 24))), y[16:]))


def _cnn_lstm() -> torch.nn.Module:
    torch.manual_seed(0)
    return build_model("cnn_lstm", heads={"y": 2}, channels=8, lstm_hidden=8, n_res_blocks=1)


# ------------------------------------------------------------------ length batching


def test_length_sampler_covers_every_unit_once_and_groups_lengths() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(20, 400, size=101)
    s = LengthBatchSampler(lengths, 8, torch.Generator().manual_seed(0), pool=4)
    epoch1, epoch2 = list(s), list(s)
    assert len(epoch1) == len(s) == 13
    for ep in (epoch1, epoch2):
        assert sorted(i for b in ep for i in b) == list(range(101))
    assert epoch1 != epoch2  # reshuffled every epoch
    spread = np.mean([np.ptp(lengths[b]) for b in epoch1 if len(b) > 1])
    perm = rng.permutation(101)
    random_spread = np.mean([np.ptp(lengths[perm[i:i + 8]]) for i in range(0, 96, 8)])
    assert spread < 0.5 * random_spread  # far less padding than random batches
    again = list(LengthBatchSampler(lengths, 8, torch.Generator().manual_seed(0), pool=4))
    assert again == epoch1  # reproducible from the generator


def test_predict_units_batches_equal_shapes_without_changing_predictions() -> None:
    torch.manual_seed(0)
    model = build_model("melcnn", heads={"y": 3}, n_mels=16, base_channels=4).eval()
    rng = np.random.default_rng(1)
    lengths = [30, 50, 30, 41, 50, 30, 64]
    arrays = [rng.standard_normal((1, 16, t)).astype(np.float32) for t in lengths]
    ds = UnitDataset(Units(arrays, np.arange(7), [[i] for i in range(7)]))
    batched = predict_units(model, ds, batch_size=4)["y"]
    with torch.no_grad():
        one = np.concatenate([model(torch.from_numpy(a)[None])["y"].numpy() for a in arrays])
    assert batched.shape == (7, 3)
    assert np.allclose(batched, one, atol=1e-5)  # same order, no padding effect


def test_variable_length_training_uses_the_length_sampler() -> None:
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((1, 16, int(t))).astype(np.float32)
              for t in rng.integers(20, 90, size=20)]
    ds = UnitDataset(Units(arrays, np.arange(20), [[i] for i in range(20)]),
                     np.array([[i % 2] for i in range(20)], np.float32))
    gen = torch.Generator().manual_seed(0)
    loader = engine_mod._loader(ds, 4, shuffle=True, sequences=False, generator=gen,
                                by_length=True)
    assert isinstance(loader.batch_sampler, LengthBatchSampler)
    off = engine_mod._loader(ds, 4, shuffle=True, sequences=False, generator=gen,
                             by_length=False)
    assert not isinstance(off.batch_sampler, LengthBatchSampler)
    model = build_model("melcnn", heads={"y": 2}, n_mels=16, base_channels=4)
    hist = train_model(model, ds, None, tasks=TASK, config=TrainConfig(
        epochs=2, batch_size=4, n_threads=1, patience=0, progress=False))
    assert len(hist) == 2 and np.isfinite(hist[-1]["train_loss"])


# ------------------------------------------------------------------ losses and schedules


def test_label_smoothing_matches_its_definition() -> None:
    logits = torch.tensor([[4.0, 0.0, -1.0], [0.5, 0.2, 3.0]])
    y = torch.tensor([[0.0], [2.0]])
    eps = 0.1
    got, _ = MultiTaskLoss([TaskSpec("a", "classification", 3)], label_smoothing=eps)(
        {"a": logits}, y)
    logp = torch.log_softmax(logits, 1)
    target = torch.full((2, 3), eps / 3)
    target[0, 0] += 1 - eps
    target[1, 2] += 1 - eps
    want = -(target * logp).sum(1).mean()
    assert float(got) == pytest.approx(float(want), rel=1e-6)
    plain, _ = MultiTaskLoss([TaskSpec("a", "classification", 3)])({"a": logits}, y)
    assert float(got) > float(plain)  # confident right answers cost more when smoothed
    with pytest.raises(ValueError, match="label_smoothing"):
        MultiTaskLoss([TaskSpec("a", "classification", 3)], label_smoothing=1.0)


def test_schedules_shape_the_learning_rate_in_the_history() -> None:
    assert lr_factor("constant", 5, 10) == 1.0
    assert lr_factor("cosine", 10, 10) == pytest.approx(0.0)
    assert lr_factor("onecycle", 10, 10) == pytest.approx(1e-4)
    peak = max(lr_factor("onecycle", s, 100) for s in range(101))
    assert peak == pytest.approx(1.0) and lr_factor("onecycle", 0, 100) == pytest.approx(0.04)
    tr, va = _datasets()
    for schedule in ("cosine", "onecycle"):
        hist = train_model(_cnn_lstm(), tr, va, tasks=TASK, config=TrainConfig(
            epochs=4, batch_size=4, lr=0.01, n_threads=1, patience=0, progress=False,
            schedule=schedule))
        lrs = [h["lr"] for h in hist]  # lr after each epoch's last step (4 steps / epoch)
        assert lrs == pytest.approx([0.01 * lr_factor(schedule, 4 * (e + 1), 16)
                                     for e in range(4)])
    with pytest.raises(ConfigError, match="schedule"):
        TrainConfig(schedule="step")


def test_mixup_changes_training_and_is_reproducible() -> None:
    tr, va = _datasets()

    def run(alpha: float) -> list[float]:
        model = _cnn_lstm()
        train_model(model, tr, va, tasks=TASK, config=TrainConfig(
            epochs=2, batch_size=4, n_threads=1, patience=0, progress=False,
            mixup_alpha=alpha))
        return [float(p.detach().sum()) for p in model.parameters()]

    a, b, plain = run(0.4), run(0.4), run(0.0)
    assert a == b and a != plain
    lam, perm = engine_mod._mixup_draw(0.4, 6, torch.Generator().manual_seed(0))
    assert 0.5 <= lam <= 1.0 and sorted(perm.tolist()) == list(range(6))
    with pytest.raises(ConfigError, match="mixup_alpha"):
        TrainConfig(mixup_alpha=-1)


def test_weight_average_follows_its_update_rule() -> None:
    lin = torch.nn.Linear(2, 1)
    with torch.no_grad():
        lin.weight.fill_(1.0)
    avg = engine_mod._WeightAverage(lin, 0.9)
    with torch.no_grad():
        lin.weight.fill_(2.0)
    avg.update(lin)
    assert torch.allclose(avg.model.weight, torch.full((1, 2), 1.1))
    # training with an average keeps the (validated) average, not the raw weights
    tr, va = _datasets()
    model = _cnn_lstm()
    train_model(model, tr, None, tasks=TASK, config=TrainConfig(
        epochs=2, batch_size=4, n_threads=1, patience=0, progress=False, ema_decay=0.5))
    raw = _cnn_lstm()
    train_model(raw, tr, None, tasks=TASK, config=TrainConfig(
        epochs=2, batch_size=4, n_threads=1, patience=0, progress=False))
    assert any(not torch.equal(p, q) for p, q in zip(model.parameters(), raw.parameters(),
                                                     strict=True))


def test_resume_with_every_recipe_gives_same_weights(tmp_path) -> None:
    cfg = TrainConfig(epochs=4, batch_size=4, seed=0, n_threads=1, patience=0, progress=False,
                      schedule="onecycle", ema_decay=0.8, mixup_alpha=0.3, label_smoothing=0.1)

    def train(run_dir, callbacks=()) -> torch.nn.Module:
        model = _cnn_lstm()
        tr, va = _datasets()
        train_model(model, tr, va, tasks=TASK, config=cfg, run_dir=run_dir,
                    callbacks=callbacks)
        return model

    ref = train(tmp_path / "a")

    def crash(epoch: int, row: dict) -> None:
        if epoch == 2:
            raise KeyboardInterrupt("simulated kill")

    with pytest.raises(KeyboardInterrupt):
        train(tmp_path / "b", callbacks=[crash])
    resumed = train(tmp_path / "b")
    for (k, v), (_, w) in zip(ref.state_dict().items(), resumed.state_dict().items(), strict=True):
        assert torch.equal(v, w), k


def test_device_choice(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(ConfigError, match="no CUDA"):
        resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto").type == "cuda"  # chosen, not used here
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(ConfigError, match="device"):
        TrainConfig(device="tpu")


# ------------------------------------------------------------------ data recipes


def test_spec_augment_masks_within_limits() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 40, 200)
    x0 = x.clone()
    for _ in range(20):
        f = spec_augment(x, generator=g, freq_masks=2, freq_width=5, time_masks=0)
        assert f.shape == x.shape
        assert (f[0] != x[0]).any(1).sum() <= 10  # 2 bands of at most 5 bins
        assert not (f[0] != x[0]).all(0).any() or (f[0] != x[0]).any(1).sum() == 40
        t = spec_augment(x, generator=g, freq_masks=0, time_masks=2, time_frac=0.05)
        assert (t[0] != x[0]).any(0).sum() <= 20  # 2 spans of at most 5 % of 200 frames
        assert torch.allclose(t[0][:, (t[0] != x[0]).any(0)], x.mean())
    assert torch.equal(x, x0)  # input untouched
    none = spec_augment(x, generator=g, freq_masks=0, time_masks=0)
    assert torch.equal(none, x)


def _tone(freq: float, seconds: float) -> np.ndarray:
    t = np.arange(int(16000 * seconds)) / 16000
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_perturbations_change_speed_or_pitch() -> None:
    y = _tone(400, 1.0)
    fast = perturb_signal(y, ("speed", 1.1))
    assert len(fast) == pytest.approx(16000 / 1.1, abs=2)
    up = perturb_signal(y, ("pitch", 2.0))
    assert len(up) == len(y)
    f = np.fft.rfftfreq(len(up), 1 / 16000)
    peak = f[np.argmax(np.abs(np.fft.rfft(up)))]
    assert peak == pytest.approx(400 * 2 ** (2 / 12), rel=0.02)
    assert perturbation_variants({"speed_perturb": (1.0, 0.9), "pitch_perturb": (0.0,)}) == \
        [("speed", 0.9)]
    with pytest.raises(ConfigError, match="speed_perturb"):
        split_params("cnn_lstm", {"speed_perturb": [3.0]})


def test_perturbed_copies_are_training_rows_only(clips: pd.DataFrame, monkeypatch) -> None:
    from vocalmind.training import data as data_mod

    seen: list[tuple] = []
    real = data_mod.build_units

    def spy(X, family, data, **kw):
        if kw.get("variant") is not None:
            seen.append((kw["variant"], tuple(X["subject"])))
        return real(X, family, data, **kw)

    monkeypatch.setattr("vocalmind.training.estimator.build_units", spy)
    est = DeepEstimator("cnn_lstm", params={**TINY, "speed_perturb": [0.9, 1.1]}, epochs=1,
                        batch_size=4, n_threads=1, patience=0, progress=False,
                        val_fraction=0.34)
    sizes: list[int] = []
    orig = engine_mod.iter_train

    def count(model, train, val, **kw):
        sizes.append((len(train), len(val) if val is not None else 0))
        return (yield from orig(model, train, val, **kw))

    monkeypatch.setattr("vocalmind.training.estimator.iter_train", count)
    est.fit(clips, clips["label"], groups=clips["subject"])
    assert [v for v, _ in seen] == [("speed", 0.9), ("speed", 1.1)]
    train_subjects = set(seen[0][1])
    n_train, n_val = sizes[0]
    plain = build_units(clips[clips["subject"].isin(train_subjects)], "cnn_lstm",
                        split_params("cnn_lstm", TINY)[1])
    assert n_train > len(plain.arrays)  # copies added (0.9 x 1.2 s gives 3 segments)
    val_subjects = set(clips["subject"]) - train_subjects
    assert val_subjects and n_val > 0  # validation speakers got no copy
    assert all(not (set(s) & val_subjects) for _, s in seen)


def test_sampled_versions_give_one_version_of_every_item_per_epoch() -> None:
    # 30 items: version 0 (the recording) has 1 unit, versions 1 and 2 (copies) 1 or 2
    item, version, lengths = [], [], []
    for it in range(30):
        for v, n in ((0, 1), (1, 2 if it % 3 == 0 else 1), (2, 1)):
            item += [it] * n
            version += [v] * n
            lengths += [20 + 5 * v + it] * n
    item_a, version_a = np.array(item), np.array(version)
    s = LengthBatchSampler(lengths, 4, torch.Generator().manual_seed(0), pool=2,
                           item=item, version=version)
    seen = np.zeros((30, 3), dtype=int)
    for _ in range(40):
        units = [i for b in s for i in b]
        assert len(units) == len(set(units))
        picked = {(int(item_a[u]), int(version_a[u])) for u in units}
        assert sorted(it for it, _ in picked) == list(range(30))  # each item, one version
        for it, v in picked:  # all units of the drawn version, none of another
            assert sum(1 for u in units if item_a[u] == it) == \
                int(np.sum((item_a == it) & (version_a == v)))
            seen[it, v] += 1
    assert (seen > 0).all()  # over epochs every version is drawn
    assert abs(seen.mean(0) / 40 - 1 / 3).max() < 0.06  # uniformly
    assert len(s) == int(np.ceil((30 + 10 / 3) / 4))  # expected units per epoch / batch


def test_perturb_sample_trains_on_one_version_per_recording(clips: pd.DataFrame,
                                                             monkeypatch) -> None:
    with pytest.raises(ConfigError, match="perturb_sample"):
        split_params("cnn_lstm", {"perturb_sample": "yes"})
    for none in ({}, {"speed_perturb": [1.0]}, {"pitch_perturb": [0]}):  # nothing to draw from
        with pytest.raises(ConfigError, match="perturb_sample=true .* there are none"):
            split_params("melcnn", {"perturb_sample": True, **none})
    batches: list[int] = []
    orig_loader = engine_mod._loader

    def spy(ds, *a, **kw):
        loader = orig_loader(ds, *a, **kw)
        if kw.get("shuffle"):
            batches.append(sum(len(b) for b in loader.batch_sampler))
            assert ds.sample_versions and set(ds.units.version) == {0, 1, 2}
        return loader

    monkeypatch.setattr(engine_mod, "_loader", spy)
    est = DeepEstimator("cnn_lstm", params={**TINY, "speed_perturb": [0.9, 1.1],
                                            "perturb_sample": True},
                        epochs=2, batch_size=4, n_threads=1, patience=0, progress=False,
                        val_fraction=0.34, refit=True)
    est.fit(clips, clips["label"], groups=clips["subject"])
    # a 1.2 s clip gives 2 segments of 0.5 s, its 0.9 copy 3 and its 1.1 copy 2: one
    # version per row is 2-3 units a row, all versions (copies mode) would be 7
    assert len(batches) == 2  # early-stopped fit (4 subjects, 8 rows), refit (12 rows)
    assert 2 * 8 <= batches[0] <= 3 * 8 and 2 * 12 <= batches[1] <= 3 * 12
    assert est.refit_epoch_ is not None
    assert est.predict(clips).shape == (len(clips),)


def test_spec_augment_and_recipes_through_the_estimator(clips: pd.DataFrame, tmp_path) -> None:
    est = DeepEstimator("cnn_lstm", params={**TINY, "freq_masks": 2, "time_masks": 2},
                        epochs=3, batch_size=4, lr=3e-3, n_threads=1, patience=0,
                        progress=False, label_smoothing=0.1, mixup_alpha=0.2,
                        schedule="cosine", ema_decay=0.5, run_dir=tmp_path / "r")
    est.fit(clips, clips["label"], groups=clips["subject"])
    assert est._augmenter() is not None
    back = DeepEstimator.load(tmp_path / "r" / "model.pt")
    assert back.schedule == "cosine" and back.ema_decay == 0.5
    assert np.allclose(back.predict_proba(clips), est.predict_proba(clips), atol=1e-6)


def test_row_cache_serves_every_fit_of_an_experiment(clips: pd.DataFrame, monkeypatch) -> None:
    """Outer folds and the final model decode each recording once (no context needed)."""
    from vocalmind.training import data as data_mod

    calls: list[str] = []
    real = data_mod.load_row
    monkeypatch.setattr(data_mod, "load_row", lambda row: calls.append(row["file"]) or real(row))
    subjects = clips["subject"].unique()
    for held in subjects[:3]:  # three leave-one-subject-out folds
        tr = clips[clips["subject"] != held]
        DeepEstimator("cnn_lstm", params=TINY, epochs=1, batch_size=4, n_threads=1,
                      patience=0, progress=False).fit(tr, tr["label"]).predict(
            clips[clips["subject"] == held])
    assert sorted(calls) == sorted(set(calls)) and len(calls) == len(clips)


def test_units_built_with_one_blas_thread(clips: pd.DataFrame, monkeypatch) -> None:
    from threadpoolctl import threadpool_info

    from vocalmind.training import data as data_mod

    seen: list[int] = []
    real = data_mod._row_units

    def spy(*a, **kw):
        seen.extend(p["num_threads"] for p in threadpool_info() if p["user_api"] == "blas")
        return real(*a, **kw)

    monkeypatch.setattr(data_mod, "_row_units", spy)
    build_units(clips.iloc[:2], "cnn_lstm", split_params("cnn_lstm", TINY)[1])
    assert seen and set(seen) == {1}


def test_asha_chooses_recipes_on_training_speakers(clips: pd.DataFrame, tmp_path) -> None:
    """Recipe settings are searchable: training ones by name, data ones as params."""
    import json

    from vocalmind.training.tuning import asha_tune

    def make(p: dict) -> DeepEstimator:
        own = {k: v for k, v in p.items() if k in ("mixup_alpha", "label_smoothing")}
        rest = {k: v for k, v in p.items() if k not in own}
        return DeepEstimator("cnn_lstm", params={**TINY, **rest}, batch_size=4, n_threads=1,
                             progress=False, **own)

    space = {"mixup_alpha": {"type": "categorical", "choices": [0.0, 0.2]},
             "label_smoothing": {"type": "categorical", "choices": [0.0, 0.1]},
             "time_masks": {"type": "categorical", "choices": [0, 2]}}
    best = asha_tune(make, clips, clips["label"].to_numpy(), clips["subject"].to_numpy(),
                     space=space, n_trials=2, sampler="random", inner_splits=2, seed=0,
                     policy={"min_resource": 1, "reduction_factor": 2, "max_resource": 2},
                     run_dir=tmp_path / "s", task="classification")
    assert set(best) == set(space)
    trials = (tmp_path / "s" / "trials.csv").read_text()
    assert "mixup_alpha" in trials and json.loads((tmp_path / "s" / "best.json").read_text())


def test_val_fraction_zero_is_one_fit_on_every_subject(clips: pd.DataFrame,
                                                       monkeypatch) -> None:
    """val_fraction 0: all epochs on every training subject, no early stopping, no refit
    (even with refit=True), the last averaged weights kept."""
    sizes: list[int] = []
    orig = engine_mod._loader

    def spy(ds, *a, **kw):
        sizes.append(len(ds))
        return orig(ds, *a, **kw)

    monkeypatch.setattr(engine_mod, "_loader", spy)
    est = DeepEstimator("cnn_lstm", params=TINY, epochs=3, batch_size=4, n_threads=1,
                        patience=1, progress=False, val_fraction=0, refit=True, ema_decay=0.9)
    est.fit(clips, clips["label"], groups=clips["subject"])
    assert len(est.history_) == 3 and not any("val_loss" in r for r in est.history_)
    assert est.refit_epoch_ is None
    # one training loader (no validation, no refit) over every row: 12 clips of 1.2 s
    # = 2 segments of 0.5 s each
    assert sizes == [24]


def test_energy_wavelet_trains_and_predicts_through_the_estimator(clips: pd.DataFrame) -> None:
    params = {"frontend": "energy", "depth": 4, "filters": 8, "gru_hidden": 8,
              "pools": [1, 2, 2], "embedding_dim": 8, "segment_s": 0.6,
              "speed_perturb": [0.9, 1.1], "perturb_sample": True}
    est = DeepEstimator("wavelet", params=params, epochs=8, batch_size=4, n_threads=1,
                        progress=False, val_fraction=0, lr=0.01, seed=0)
    est.fit(clips, clips["label"], groups=clips["subject"])
    proba = est.predict_proba(clips)
    assert proba.shape == (12, 2) and np.allclose(proba.sum(1), 1, atol=1e-5)
    # 250 Hz against 1500 Hz tones: the band energies separate them after a few epochs
    assert (est.predict(clips) == clips["label"].to_numpy()).mean() >= 0.9
