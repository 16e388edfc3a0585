"""scikit-learn style estimator around the deep families: the experiment runner's entry.

>>> est = DeepEstimator("cnn_lstm", "classification", params={"channels": 16},
...                     epochs=10, batch_size=8, lr=1e-3, seed=0, n_threads=2)  # doctest: +SKIP
>>> est.fit(manifest_rows, manifest_rows["phq8_band"], groups=manifest_rows["subject"])  # doctest: +SKIP
>>> est.predict_proba(test_rows)  # (n_rows, n_classes)  # doctest: +SKIP

Rows of ``X`` are manifest rows (``file``, ``start``, ``end``, ``subject`` ...). Each row
becomes one or more units (see :mod:`vocalmind.training.data`); unit predictions are
averaged per row. Labels: a 1-D ``y`` is one task; a DataFrame is one task per column
(multi-task, shared trunk), where NaN (or -1, or None) marks a missing label that masks
that head's loss. Regression targets are standardised with the training mean and std.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator

from vocalmind.errors import ConfigError, ModelError
from vocalmind.models import build_model, get_family
from vocalmind.training.data import (
    UnitDataset,
    Units,
    augment_logmel,
    build_units,
    inner_split,
    input_kind,
    perturbation_variants,
    spec_augment,
    split_params,
)
from vocalmind.training.engine import (
    EpochCallback,
    TrainConfig,
    iter_train,
    predict_units,
    seed_everything,
    train_model,
)
from vocalmind.training.losses import TaskSpec, balanced_class_weights

__all__ = ["DeepEstimator"]

_FORMAT = "vocalmind-deep/1"


def _missing(v: Any) -> bool:
    if v is None:
        return True
    if isinstance(v, float | np.floating) and np.isnan(v):
        return True
    return isinstance(v, int | float | np.integer | np.floating) and v == -1


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """torch's intra-op threads set to ``n`` for the block, restored after it."""
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


class DeepEstimator(BaseEstimator):
    """Train and apply a deep family on manifest rows.

    Parameters
    ----------
    family : ``melcnn``, ``cnn_lstm``, ``wavelet`` or ``ssl_attention``
    task : ``"classification"`` or ``"regression"`` (all tasks of a multi-task ``y``)
    params : model constructor arguments and data settings of the family (see
        :data:`vocalmind.models.DATA_DEFAULTS`), e.g. ``{"n_blocks": 4,
        "input_mode": "resize", "augment": False}``
    epochs, batch_size, lr, seed, n_threads : training settings (:class:`TrainConfig`)
    run_dir : folder for checkpoints (resume), history and plots; None = nothing written
    patience : early-stopping patience in epochs (0 = train all epochs)
    val_fraction : share of training subjects held out for early stopping
    class_weight : ``"balanced"`` or None
    weight_decay : Adam weight decay
    init_from : a file saved by :meth:`save` whose trunk initialises this model
        (transfer learning; heads are rebuilt for the new tasks)
    freeze_layers : parameter-name glob patterns frozen after initialisation
    on_error : ``"raise"`` or ``"skip"`` for unreadable / silent rows
    progress : show progress bars
    label_smoothing, mixup_alpha, schedule, ema_decay, device, batch_by_length : training
        recipes (:class:`~vocalmind.training.engine.TrainConfig`); the defaults (all off,
        constant learning rate, length batching on, GPU when visible) are the conservative
        choice -- which recipe helps was not yet measured on training speakers
    refit : after early stopping on the held-out training subjects, train a fresh model on
        all training subjects for the best epoch count (``refit_epoch_``), so the final
        weights have seen every training subject (the validation subjects are otherwise
        lost to the model: 2 of 9 in a leave-one-speaker-out fold of EMO-DB)
    distill : None, or settings of distillation from a Whisper linear teacher (single-task
        classification; :data:`~vocalmind.training.distill.DISTILL_DEFAULTS`: ``weight``,
        ``temperature``, ``whisper_model``, ``whisper_layer``, ``inner_splits``, ``C``);
        the teacher's probabilities are out-of-fold on the training rows' subjects

    Data recipes are ``params`` (:data:`~vocalmind.models.DATA_DEFAULTS`):
    ``freq_masks``/``freq_mask_width``/``time_masks``/``time_mask_frac`` (SpecAugment-style
    masks, log-mel families), ``speed_perturb``/``pitch_perturb`` (copies of the training
    rows made once), ``input: whisper`` with ``whisper_model``/``whisper_layer``.
    ssl_attention's ``speaker_norm: true`` (a model setting) standardises the frozen encoder
    states per speaker: the speakers are ``groups`` in :meth:`fit` and ``X["subject"]`` at
    prediction (required there), each speaker's statistics come from all of its rows in the
    table given (test speakers: their own unlabelled recordings), never from labels.

    Attributes
    ----------
    classes_ : np.ndarray (single task) or dict task -> np.ndarray (multi-task)
    tasks_ : list of TaskSpec
    history_ : list of dict, one per epoch
    model_ : the trained nn.Module
    n_params_ : number of parameters (all, trainable)
    skipped_ : row position -> reason for rows skipped during fit
    """

    def __init__(self, family: str, task: str = "classification", *,
                 params: dict[str, Any] | None = None, epochs: int = 30, batch_size: int = 16,
                 lr: float = 1e-3, seed: int = 0, n_threads: int = 1,
                 run_dir: str | Path | None = None, patience: int = 5,
                 val_fraction: float = 0.2, class_weight: str | None = "balanced",
                 weight_decay: float = 0.0, init_from: str | Path | None = None,
                 freeze_layers: Sequence[str] = (), on_error: str = "raise",
                 progress: bool = True, label_smoothing: float = 0.0,
                 mixup_alpha: float = 0.0, schedule: str = "constant",
                 ema_decay: float = 0.0, device: str = "auto",
                 batch_by_length: bool = True, distill: dict[str, Any] | None = None,
                 refit: bool = False) -> None:
        self.family = family
        self.task = task
        self.params = params
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.n_threads = n_threads
        self.run_dir = run_dir
        self.patience = patience
        self.val_fraction = val_fraction
        self.class_weight = class_weight
        self.weight_decay = weight_decay
        self.init_from = init_from
        self.freeze_layers = freeze_layers
        self.on_error = on_error
        self.progress = progress
        self.label_smoothing = label_smoothing
        self.mixup_alpha = mixup_alpha
        self.schedule = schedule
        self.ema_decay = ema_decay
        self.device = device
        self.batch_by_length = batch_by_length
        self.distill = distill
        self.refit = refit

    # ------------------------------------------------------------------ helpers
    def _check(self) -> None:
        fam = get_family(self.family)
        if not fam.deep:
            raise ConfigError(f"{self.family!r} is not a deep family; use the classical runner")
        if self.task not in ("classification", "regression"):
            raise ConfigError(f"task={self.task!r}: use 'classification' or 'regression'")
        if self.class_weight not in ("balanced", None):
            raise ConfigError(f"class_weight={self.class_weight!r}: use 'balanced' or None")
        self._config()  # every training setting (recipes, distillation) checked up front

    def _config(self) -> TrainConfig:
        from vocalmind.training.distill import check_distill

        d = check_distill(self.distill)
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           weight_decay=self.weight_decay, seed=self.seed,
                           n_threads=self.n_threads, patience=self.patience,
                           progress=self.progress, label_smoothing=self.label_smoothing,
                           mixup_alpha=self.mixup_alpha, schedule=self.schedule,
                           ema_decay=self.ema_decay, device=self.device,
                           batch_by_length=self.batch_by_length,
                           distill_weight=float(d["weight"]) if d else 0.0,
                           distill_temperature=float(d["temperature"]) if d else 2.0)

    def _encode_targets(self, y: Any, n: int) -> np.ndarray:
        """Fit tasks/classes/scales and return encoded targets ``(n, n_tasks)``."""
        if isinstance(y, pd.DataFrame):
            ydf = y.reset_index(drop=True)
            self.multitask_ = True
        else:
            name = getattr(y, "name", None)
            name = name if isinstance(name, str) and name.isidentifier() else "target"
            ydf = pd.DataFrame({name: np.asarray(y, dtype=object).ravel()})
            self.multitask_ = False
        if len(ydf) != n:
            raise ConfigError(f"y has {len(ydf)} rows but X has {n}")
        self.tasks_, self.classes_by_task_, self.scales_ = [], {}, {}
        out = np.full((n, ydf.shape[1]), np.nan, dtype=np.float32)
        for j, col in enumerate(ydf.columns):
            vals = ydf[col].to_numpy(dtype=object)
            miss = np.array([_missing(v) for v in vals])
            if miss.all():
                raise ConfigError(f"task {col!r} has no label in the training rows")
            if self.task == "classification":
                classes = np.array(sorted(set(vals[~miss].tolist()), key=lambda v: (str(type(v)), v)))
                if len(classes) < 2:
                    raise ConfigError(f"task {col!r}: only one class ({classes[0]!r}) in training")
                lookup = {c: i for i, c in enumerate(classes.tolist())}
                out[~miss, j] = [lookup[v] for v in vals[~miss].tolist()]
                self.classes_by_task_[str(col)] = classes
                self.tasks_.append(TaskSpec(str(col), "classification", len(classes)))
            else:
                v = vals[~miss].astype(float)
                mu, sd = float(v.mean()), float(v.std()) or 1.0
                out[~miss, j] = (v - mu) / sd
                self.scales_[str(col)] = (mu, sd)
                self.tasks_.append(TaskSpec(str(col), "regression"))
        return out

    @property
    def classes_(self) -> Any:
        """Class labels (single task) or a dict of them (multi-task)."""
        if not hasattr(self, "classes_by_task_"):
            raise AttributeError("classes_: call fit first")
        if self.task != "classification":
            raise AttributeError("classes_ exists for classification only")
        if self.multitask_:
            return self.classes_by_task_
        return next(iter(self.classes_by_task_.values()))

    def _build(self) -> torch.nn.Module:
        heads = {t.name: t.n_out for t in self.tasks_}
        if self.init_from is not None:
            from vocalmind.training.transfer import trunk_from

            return trunk_from(DeepEstimator.load(self.init_from), path=self.init_from,
                              family=self.family, heads=heads, freeze=self.freeze_layers)
        model = build_model(self.family, heads=heads, **self.model_params_)
        if self.freeze_layers:
            from vocalmind.training.transfer import set_trainable

            set_trainable(model, self.freeze_layers, trainable=False)
        return model

    # ------------------------------------------------------------------ API
    def fit(self, X: pd.DataFrame, y: Any, groups: Any = None, *,
            validation: tuple[pd.DataFrame, Any] | None = None,
            callbacks: Sequence[EpochCallback] = ()) -> DeepEstimator:
        """Train on manifest rows ``X`` with labels ``y``, validation split by ``groups``.

        Parameters
        ----------
        X : manifest rows
        y : array-like ``(n,)`` or DataFrame ``(n, n_tasks)`` (NaN / -1 = missing)
        groups : subject per row (default: ``X["subject"]``)
        validation : ``(X_val, y_val)``, an explicit validation set used for early
            stopping and the per-epoch metrics instead of the inner subject split of
            ``X`` (the caller keeps its subjects apart from ``X``'s)
        callbacks : called after every epoch with ``(epoch, history row)``; the row holds
            ``train_loss``, ``val_loss`` and ``val_<task>_bacc`` (balanced accuracy = UAR)
            or ``val_<task>_mae``. A callback may raise to stop training.

        Raises
        ------
        ConfigError
            Bad settings or labels; no subjects given.
        AudioError
            An unreadable or silent row (``on_error="raise"``).
        """
        epochs = self.fit_epochs(X, y, groups, validation=validation)
        try:
            for row in epochs:
                for cb in callbacks:
                    cb(int(row["epoch"]), row)
        finally:
            epochs.close()
        return self

    def fit_epochs(self, X: pd.DataFrame, y: Any, groups: Any = None, *,
                   validation: tuple[pd.DataFrame, Any] | None = None
                   ) -> Iterator[dict[str, Any]]:
        """:meth:`fit` as a generator yielding each epoch's history row.

        The estimator is fitted (best weights, ``history_``, saved files) once the
        generator is exhausted; closed early, ``model_`` holds the last epoch's weights
        and nothing is written. Used to train the inner folds of a search in lockstep.
        """
        self._check()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        X = X.reset_index(drop=True)
        if groups is None:
            if "subject" in X.columns:
                groups = X["subject"]
            elif validation is None:
                raise ConfigError("fit needs groups (subjects) or a 'subject' column in X")
            else:  # an explicit validation set needs no inner subject split
                groups = np.arange(len(X))
        groups = np.asarray(groups).astype(str)
        if len(groups) != len(X):
            raise ConfigError(f"groups has {len(groups)} entries but X has {len(X)} rows")
        self.model_params_, self.data_params_ = split_params(self.family, self.params)
        targets = self._encode_targets(y, len(X))
        seed_everything(self.seed)
        units = build_units(X, self.family, self.data_params_, on_error=self.on_error,
                            progress=self.progress)
        self.skipped_ = units.skipped
        if not units.item_rows:
            raise ConfigError("no usable training rows (all skipped)")
        if self.data_params_.get("input", "logmel") == "whisper":
            # the model reads the encoder's width where it would read mel bands
            self.model_params_["n_mels"] = int(units.arrays[0].shape[-2])
        item_targets = self._item_targets(units, targets)
        item_targets = self._with_teacher(X, targets, groups, units, item_targets)
        if validation is None:
            item_groups = np.array([groups[rows[0]] for rows in units.item_rows])
            strat = item_targets[:, 0] if self.task == "classification" else None
            tr, va = inner_split(item_groups, y=strat, val_fraction=self.val_fraction,
                                 seed=self.seed)
            train_units, val_units = units.subset_items(list(tr)), units.subset_items(list(va))
            train_t, val_t = item_targets[tr], item_targets[va][:, :len(self.tasks_)]
            train_units = self._perturbed(X, units, list(tr), train_units)
        else:
            Xv = validation[0].reset_index(drop=True)
            vunits = build_units(Xv, self.family, self.data_params_, on_error=self.on_error,
                                 progress=self.progress)
            train_units, train_t = units, item_targets
            train_units = self._perturbed(X, units, list(range(len(units.item_rows))), units)
            val_units = vunits
            val_t = self._item_targets(vunits, self._encode_more(validation[1], len(Xv)))
        self.model_ = self._build()
        self._set_speakers(self.model_, units, groups)
        if validation is not None:
            self._set_speakers(self.model_, val_units, self._row_speakers(Xv))
        aug = self._augmenter()
        train_ds = self._training_set(train_units, train_t, aug)
        val_ds = UnitDataset(val_units, val_t) if val_units.item_rows else None
        cw = self._class_weights(train_ds)
        self.n_params_ = (sum(p.numel() for p in self.model_.parameters()),
                          sum(p.numel() for p in self.model_.parameters() if p.requires_grad))
        self.history_ = yield from iter_train(
            self.model_, train_ds, val_ds, tasks=self.tasks_, config=self._config(),
            class_weights=cw, scales=self.scales_, run_dir=self.run_dir,
            sequences=self.family == "ssl_attention")
        self.refit_epoch_ = None
        if self.refit and val_ds is not None and validation is None:
            self._refit_all(units, item_targets, X, aug, groups)
        if self.run_dir is not None:
            self.save(Path(self.run_dir) / "model.pt")

    def _speaker_norm(self) -> bool:
        """Whether the model standardises its frozen states per speaker (ssl_attention)."""
        return self.family == "ssl_attention" and bool(self.model_params_.get("speaker_norm"))

    def _row_speakers(self, X: pd.DataFrame) -> np.ndarray:
        """Speaker of each row of ``X`` (its ``subject`` column), for ``speaker_norm``."""
        if "subject" not in X.columns:
            raise ConfigError("ssl_attention with speaker_norm needs a 'subject' column in the "
                              "rows it trains on and predicts: each speaker's states are "
                              "standardised with statistics of that speaker's own recordings")
        return X["subject"].astype(str).to_numpy()

    def _set_speakers(self, model: torch.nn.Module, units: Units, groups: np.ndarray) -> None:
        """Give ``model`` the per-speaker statistics of ``units`` (``speaker_norm`` only):
        every unit's speaker is its item's first row's group; no label is read."""
        if not self._speaker_norm() or not units.item_rows:
            return
        speakers = [str(groups[units.item_rows[int(it)][0]]) for it in units.item]
        with _torch_threads(self.n_threads):  # the encoder may run here (first pass)
            model.set_speakers(units.arrays, speakers)  # type: ignore[operator]

    def _class_weights(self, ds: UnitDataset) -> dict[str, np.ndarray] | None:
        """Balanced cross-entropy weights per classification task, from ``ds``'s targets
        (None when ``class_weight`` is None)."""
        if self.class_weight != "balanced":
            return None
        return {t.name: balanced_class_weights(ds.targets[:, j], t.n_classes)
                for j, t in enumerate(self.tasks_) if t.kind == "classification"}

    def _refit_all(self, units: Units, item_targets: np.ndarray, X: pd.DataFrame,
                   aug: Any, groups: np.ndarray) -> None:
        """Retrain from scratch on every training subject for the epoch count that early
        stopping chose (the epoch of the lowest validation loss); no validation set, so
        the last epoch's weights (or their moving average) are kept."""
        losses = [r.get("val_loss", np.inf) for r in self.history_]
        self.refit_epoch_ = int(np.argmin(losses)) + 1
        seed_everything(self.seed)
        self.model_ = self._build()
        self._set_speakers(self.model_, units, groups)
        all_items = list(range(len(units.item_rows)))
        ds = self._training_set(self._perturbed(X, units, all_items, units), item_targets, aug)
        cw = self._class_weights(ds)
        config = dataclasses.replace(self._config(), epochs=self.refit_epoch_, patience=0)
        train_model(self.model_, ds, None, tasks=self.tasks_, config=config,
                    class_weights=cw, scales=self.scales_,
                    run_dir=None if self.run_dir is None else Path(self.run_dir) / "refit",
                    sequences=self.family == "ssl_attention")

    def _with_teacher(self, X: pd.DataFrame, targets: np.ndarray, groups: np.ndarray,
                      units: Units, item_targets: np.ndarray) -> np.ndarray:
        """Item targets plus the teacher's out-of-fold probabilities (when distilling)."""
        from vocalmind.training.distill import check_distill, teacher_probabilities

        d = check_distill(self.distill)
        if d is None:
            return item_targets
        if self.task != "classification" or len(self.tasks_) != 1:
            raise ConfigError("distill works for single-task classification only")
        if self.family == "ssl_attention":
            raise ConfigError("distill is not available for ssl_attention")
        probs = teacher_probabilities(X, targets[:, 0], groups,
                                      n_classes=self.tasks_[0].n_classes, settings=d,
                                      seed=self.seed, on_error=self.on_error)
        self.teacher_proba_ = probs
        per_item = np.stack([probs[rows[0]] for rows in units.item_rows]).astype(np.float32)
        return np.hstack([item_targets, per_item])

    def _augmenter(self) -> Any:
        """The per-unit training augmentation of the data settings, or None."""
        d = self.data_params_
        if input_kind(self.family) not in ("logmel", "logmel_segment"):
            return None
        doc004 = bool(d.get("augment"))
        p = float(d.get("augment_p", 0.6))
        # the mel-axis pitch warp means nothing on Whisper dimensions: noise and masks only
        semis = 0 if d.get("input") == "whisper" else 4
        fm, tm = int(d.get("freq_masks", 0)), int(d.get("time_masks", 0))
        fw, tf = int(d.get("freq_mask_width", 8)), float(d.get("time_mask_frac", 0.05))
        if not doc004 and not (fm or tm):
            return None

        def aug(x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
            if doc004:
                x = augment_logmel(x, generator=g, p=p, max_semitones=semis)
            if fm or tm:
                x = spec_augment(x, generator=g, freq_masks=fm, freq_width=fw,
                                 time_masks=tm, time_frac=tf)
            return x

        return aug

    def _perturbed(self, X: pd.DataFrame, units: Units, items: list[int],
                   train_units: Units) -> Units:
        """``train_units`` plus the speed/pitch-perturbed copies of those items' rows
        (built once per row and variant, cached), each copy labelled as its item."""
        variants = perturbation_variants(self.data_params_)
        if not variants:
            return train_units
        rows = [units.item_rows[i][0] for i in items]
        Xr = X.iloc[rows].reset_index(drop=True)
        arrays, item = list(train_units.arrays), list(train_units.item)
        version = [0] * len(arrays)
        for k, v in enumerate(variants, start=1):
            pu = build_units(Xr, self.family, self.data_params_, on_error="skip",
                             progress=self.progress, variant=v)
            for a, it in zip(pu.arrays, pu.item, strict=True):
                arrays.append(a)
                item.append(pu.item_rows[int(it)][0])  # position in Xr = item in train_units
                version.append(k)
        return Units(arrays, np.asarray(item, dtype=int), train_units.item_rows,
                     dict(train_units.skipped), version=np.asarray(version, dtype=int))

    def _training_set(self, units: Units, targets: np.ndarray, aug: Any) -> UnitDataset:
        """The dataset a fit trains on: augmented, and with ``perturb_sample`` one version
        of every item drawn per epoch (else every copy, every epoch)."""
        return UnitDataset(units, targets, augment=aug,
                           sample_versions=bool(self.data_params_.get("perturb_sample")))

    def _item_targets(self, units: Any, targets: np.ndarray) -> np.ndarray:
        """Targets per item ``(n_items, n_tasks)``; all rows of an item must agree."""
        item_targets = np.stack([targets[rows[0]] for rows in units.item_rows])
        for rows, t in zip(units.item_rows, item_targets, strict=True):
            if len(rows) > 1 and not np.allclose(targets[rows], t, equal_nan=True):
                raise ConfigError("sequence='subject' needs the same labels on every row of "
                                  "a subject")
        return item_targets

    def _encode_more(self, y: Any, n: int) -> np.ndarray:
        """Encode more labels (a validation set) with the tasks fitted on the training
        labels; classes unseen in training become missing (NaN)."""
        if isinstance(y, pd.DataFrame):
            ydf = y.reset_index(drop=True)
        else:
            ydf = pd.DataFrame({self.tasks_[0].name: np.asarray(y, dtype=object).ravel()})
        if ydf.shape != (n, len(self.tasks_)):
            raise ConfigError(f"validation labels have shape {ydf.shape}; expected "
                              f"({n}, {len(self.tasks_)}) like the training labels")
        out = np.full((n, len(self.tasks_)), np.nan, dtype=np.float32)
        for j, t in enumerate(self.tasks_):
            vals = ydf.iloc[:, j].to_numpy(dtype=object)
            for i, v in enumerate(vals.tolist()):
                if _missing(v):
                    continue
                if t.kind == "classification":
                    lookup = {c: k for k, c in enumerate(self.classes_by_task_[t.name].tolist())}
                    if v in lookup:
                        out[i, j] = lookup[v]
                else:
                    mu, sd = self.scales_[t.name]
                    out[i, j] = (float(v) - mu) / sd
        return out

    def _unit_outputs(self, X: pd.DataFrame) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Per-row averaged outputs ``{task: (n, n_out)}`` (probabilities for classification)
        and a mask of rows that could be predicted."""
        if not hasattr(self, "model_"):
            raise ModelError("this DeepEstimator is not fitted; call fit or load first")
        X = X.reset_index(drop=True)
        units = build_units(X, self.family, self.data_params_, on_error=self.on_error,
                            progress=self.progress)
        if self._speaker_norm():
            self._set_speakers(self.model_, units, self._row_speakers(X))
        with _torch_threads(self.n_threads):
            raw = predict_units(self.model_, UnitDataset(units), batch_size=self.batch_size,
                                sequences=self.family == "ssl_attention")
        res: dict[str, np.ndarray] = {}
        ok = np.zeros(len(X), dtype=bool)
        for t in self.tasks_:
            o = raw[t.name]
            if t.kind == "classification":
                o = np.exp(o - o.max(1, keepdims=True))
                o /= o.sum(1, keepdims=True)
            per_item = np.stack([o[units.item == i].mean(0) for i in range(len(units.item_rows))])
            full = np.full((len(X), o.shape[1]), np.nan)
            for i, rows in enumerate(units.item_rows):
                full[rows] = per_item[i]
                ok[rows] = True
            if t.kind == "regression":
                mu, sd = self.scales_[t.name]
                full = full * sd + mu
            res[t.name] = full
        return res, ok

    def predict_proba(self, X: pd.DataFrame, task: str | None = None) -> np.ndarray:
        """Class probabilities ``(n_rows, n_classes)`` (averaged over a row's units).

        For a multi-task model name the ``task`` (default: the first). Skipped rows
        (``on_error="skip"``) are NaN.
        """
        if self.task != "classification":
            raise ModelError("predict_proba needs a classification model")
        out, _ = self._unit_outputs(X)
        return out[task or self.tasks_[0].name]

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predictions per row: ``(n,)``, or ``(n, n_tasks)`` for a multi-task model.

        Classification gives class labels (None for a skipped row), regression values
        in the original units (NaN for a skipped row).
        """
        out, ok = self._unit_outputs(X)
        cols = []
        for t in self.tasks_:
            o = out[t.name]
            if t.kind == "classification":
                classes = self.classes_by_task_[t.name]
                lab = np.empty(len(o), dtype=object)
                lab[ok] = classes[np.nanargmax(o[ok], axis=1)] if ok.any() else []
                lab[~ok] = None
                if ok.all():
                    lab = lab.astype(classes.dtype)
                cols.append(lab)
            else:
                cols.append(o[:, 0])
        return cols[0] if len(cols) == 1 else np.column_stack(cols)

    def save(self, path: str | Path) -> Path:
        """Write settings, tasks, classes, scales, history and weights to one file."""
        from vocalmind.files import atomic_path

        if not hasattr(self, "model_"):
            raise ModelError("nothing to save: fit the estimator first")
        init = self.get_params()
        init["run_dir"] = None if init["run_dir"] is None else str(init["run_dir"])
        init["init_from"] = None  # weights are saved below; no need to re-read the source
        init["freeze_layers"] = list(init["freeze_layers"])
        blob = {"format": _FORMAT, "init": init, "multitask": self.multitask_,
                "tasks": [[t.name, t.kind, t.n_classes] for t in self.tasks_],
                "classes": {k: v.tolist() for k, v in self.classes_by_task_.items()},
                "scales": {k: list(v) for k, v in self.scales_.items()},
                "model_params": self.model_params_, "data_params": self.data_params_,
                "history": self.history_,
                "state_dict": {k: v.detach().cpu() for k, v in self.model_.state_dict().items()}}
        path = Path(path)
        with atomic_path(path) as tmp:
            torch.save(blob, tmp)
        return path

    @classmethod
    def load(cls, path: str | Path) -> DeepEstimator:
        """Rebuild a fitted estimator from :meth:`save`'s file.

        Raises
        ------
        ModelError
            Missing file or not a vocalmind deep-model file.
        """
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"{path}: no such model file")
        try:
            blob = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as exc:  # pickle / zip errors of foreign files
            raise ModelError(f"{path}: not a vocalmind deep-model file ({exc})") from exc
        if not isinstance(blob, dict) or blob.get("format") != _FORMAT:
            raise ModelError(f"{path}: not a vocalmind deep-model file ({_FORMAT})")
        est = cls(**blob["init"])
        est.multitask_ = blob["multitask"]
        est.tasks_ = [TaskSpec(n, k, c) for n, k, c in blob["tasks"]]
        est.classes_by_task_ = {k: np.array(v) for k, v in blob["classes"].items()}
        est.scales_ = {k: (float(v[0]), float(v[1])) for k, v in blob["scales"].items()}
        est.model_params_, est.data_params_ = blob["model_params"], blob["data_params"]
        est.history_ = blob["history"]
        heads = {t.name: t.n_out for t in est.tasks_}
        est.model_ = build_model(est.family, heads=heads, **est.model_params_)
        est.model_.load_state_dict(blob["state_dict"])
        est.model_.eval()
        est.n_params_ = (sum(p.numel() for p in est.model_.parameters()),
                         sum(p.numel() for p in est.model_.parameters() if p.requires_grad))
        est.skipped_ = {}
        return est
