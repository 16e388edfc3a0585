"""The one training loop of the deep families.

:func:`train_model` trains any model that follows the protocol of :mod:`vocalmind.models`
(``forward(x[, mask]) -> {task: output}``, ``embed``, ``heads``) with Adam, a
:class:`~vocalmind.training.losses.MultiTaskLoss`, early stopping on a validation set
(the caller splits it by subject, see :func:`vocalmind.training.data.inner_split`),
and -- when a run folder is given -- a checkpoint after every epoch, from which an
interrupted run resumes to exactly the weights an uninterrupted run gives (model,
optimiser, schedule, weight average, early-stopping state and both random generators are
saved).

Recipes (all off by default except length batching; see :class:`TrainConfig`): label
smoothing, mixup, a cosine or one-cycle learning-rate schedule stepped per batch, an
exponential moving average of the weights (validated, early-stopped and kept instead of
the raw weights), and batches of units of similar length when lengths differ (less
padding: melcnn's whole clips). Training runs on CUDA when ``torch.cuda.is_available()``
(``device="auto"``); nothing needs a GPU.

Run folder layout::

    run_dir/checkpoint.pt     last epoch (atomic write; deleted by nobody)
    run_dir/history.csv       one row per epoch: losses and validation metrics
    run_dir/plots/loss.png, metric.png, roc_<task>.png, embedding_<task>.png
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler

from vocalmind.errors import ConfigError, ModelError
from vocalmind.files import atomic_path, write_table
from vocalmind.progress import progress_bar
from vocalmind.training.data import UnitDataset, collate_units
from vocalmind.training.losses import MultiTaskLoss, TaskSpec

__all__ = ["TrainConfig", "seed_everything", "train_model", "iter_train", "predict_units",
           "EpochCallback", "save_training_plots", "LengthBatchSampler", "resolve_device",
           "lr_factor", "SCHEDULES"]

SCHEDULES = ("constant", "cosine", "onecycle")
_NEW_FIELDS = ("label_smoothing", "mixup_alpha", "schedule", "ema_decay", "batch_by_length",
               "distill_weight", "distill_temperature")

#: called after each epoch (and its checkpoint) with (epoch, history row); may raise to stop
EpochCallback = Callable[[int, dict[str, Any]], None]


@dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run.

    Attributes
    ----------
    epochs : maximum epochs
    batch_size : units per batch
    lr : Adam learning rate
    weight_decay : Adam weight decay
    seed : seeds torch (weights, dropout) and the data order / augmentation generator
    n_threads : ``torch.set_num_threads`` during training. 1 by default: on the 2 shared
        cores this was measured, a cnn_lstm epoch took 0.57 CPU s with 1 thread and
        15.8 CPU s with 2 (OpenMP threads spinning while the other core was busy;
        1.35 vs 0.81 s even with ``OMP_WAIT_POLICY=PASSIVE``), see docs/benchmarks.md
    patience : epochs without validation-loss improvement before stopping (0 = never stop)
    min_delta : smallest decrease of the validation loss that counts as improvement
    grad_clip : max gradient norm (0 = no clipping)
    progress : show a rich progress bar
    resume : resume from ``run_dir/checkpoint.pt`` when it exists
    label_smoothing : cross-entropy label smoothing (0 = none; 0.1 is common)
    mixup_alpha : mixup of training batches, ``lam ~ Beta(a, a)`` (0 = off); units and
        losses are mixed (``lam * L(y) + (1 - lam) * L(y_perm)``); not for masked sequences
    schedule : ``"constant"``, ``"cosine"`` (cosine decay to 0 over ``epochs``) or
        ``"onecycle"`` (linear warm-up over the first 30 % from ``lr / 25``, then cosine
        decay to ``lr / 1e4``), stepped per batch
    ema_decay : exponential moving average of the weights per step (0 = off, e.g. 0.99);
        the average is what is validated, early-stopped and returned
    device : ``"auto"`` (CUDA when available, else CPU), ``"cpu"`` or ``"cuda"``
    batch_by_length : when units differ in length, batch units of similar length
        (shuffled within pools of 8 batches, batch order shuffled)
    distill_weight, distill_temperature : knowledge distillation (0 = off): the training
        targets then carry, after the task columns, a teacher's class probabilities for
        the first task, and the loss is ``(1 - w) * task loss + w * T^2 * KL(teacher ||
        softmax(logits / T))`` (see :mod:`vocalmind.training.distill`)
    """

    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    n_threads: int = 1
    patience: int = 5
    min_delta: float = 0.0
    grad_clip: float = 5.0
    progress: bool = True
    resume: bool = True
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0
    schedule: str = "constant"
    ema_decay: float = 0.0
    device: str = "auto"
    batch_by_length: bool = True
    distill_weight: float = 0.0
    distill_temperature: float = 2.0

    def __post_init__(self) -> None:
        for k in ("epochs", "batch_size", "n_threads"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"training: {k}={getattr(self, k)} must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"training: lr={self.lr} must be > 0 (e.g. 1e-3)")
        if self.patience < 0:
            raise ConfigError(f"training: patience={self.patience} must be >= 0")
        if not 0 <= self.label_smoothing < 1:
            raise ConfigError(f"training: label_smoothing={self.label_smoothing} must be in [0, 1)")
        if self.mixup_alpha < 0:
            raise ConfigError(f"training: mixup_alpha={self.mixup_alpha} must be >= 0 (0 = off)")
        if self.schedule not in SCHEDULES:
            raise ConfigError(f"training: schedule={self.schedule!r}: use one of "
                              f"{', '.join(SCHEDULES)}")
        if not 0 <= self.ema_decay < 1:
            raise ConfigError(f"training: ema_decay={self.ema_decay} must be in [0, 1) (0 = off)")
        if not 0 <= self.distill_weight <= 1 or not self.distill_temperature > 0:
            raise ConfigError(f"training: distill_weight={self.distill_weight} must be in "
                              f"[0, 1] and distill_temperature={self.distill_temperature} > 0")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ConfigError(f"training: device={self.device!r}: use 'auto', 'cpu' or 'cuda'")


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"``: CUDA when ``torch.cuda.is_available()``, else CPU.

    Raises
    ------
    ConfigError
        ``"cuda"`` asked for and no GPU is visible.
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("training: device='cuda' but no CUDA GPU is visible; use 'auto'")
    return torch.device(device)


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at ``step`` of ``total`` steps.

    Examples
    --------
    >>> [round(lr_factor("cosine", s, 4), 3) for s in range(5)]
    [1.0, 0.854, 0.5, 0.146, 0.0]
    >>> lr_factor("onecycle", 0, 10), lr_factor("onecycle", 3, 10)
    (0.04, 1.0)
    """
    if schedule == "constant" or total <= 0:
        return 1.0
    frac = min(max(step / total, 0.0), 1.0)
    if schedule == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * frac))
    warm = 0.3
    if frac < warm:
        return 1 / 25 + (1 - 1 / 25) * frac / warm
    lo = 1e-4
    return lo + (1 - lo) * 0.5 * (1.0 + math.cos(math.pi * (frac - warm) / (1 - warm)))


class LengthBatchSampler(Sampler[list[int]]):
    """Batches of units of similar length, reshuffled every epoch.

    The units are shuffled, cut into pools of ``pool`` batches, each pool sorted by
    length and cut into batches, and the batch order shuffled: little padding, yet the
    batches still differ from epoch to epoch.

    Parameters
    ----------
    lengths : length (frames or samples) of each unit ``(n,)``
    batch_size : units per batch
    generator : the engine's generator (reproducible, resumable)
    pool : batches per sorting pool
    item, version : with both, each epoch first draws one version of every item (uniformly
        among the versions its units have) and batches only that version's units
        (``perturb_sample``); ``len()`` is then the expected number of batches

    Examples
    --------
    >>> s = LengthBatchSampler([5, 50, 6, 51], 2, torch.Generator().manual_seed(0), pool=2)
    >>> sorted(sorted(b) for b in s)
    [[0, 2], [1, 3]]

    One version per item and epoch: items 0 and 1, each as itself (version 0) or a copy (1)

    >>> s = LengthBatchSampler([5, 5, 6, 6], 2, torch.Generator().manual_seed(0),
    ...                        item=[0, 1, 0, 1], version=[0, 0, 1, 1])
    >>> [len(b) for b in s], len(s)
    ([2], 1)
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, generator: torch.Generator,
                 pool: int = 8, *, item: Sequence[int] | None = None,
                 version: Sequence[int] | None = None) -> None:
        self.lengths = np.asarray(lengths)
        self.batch_size = int(batch_size)
        self.generator = generator
        self.pool = int(pool)
        # per item, the unit positions of each of its versions (in version order); None:
        # every unit is used every epoch
        self.versions_: list[list[np.ndarray]] | None = None
        if item is not None and version is not None:
            item_a, version_a = np.asarray(item, dtype=int), np.asarray(version, dtype=int)
            # one stable sort by (item, version), cut where the pair changes: linear in
            # the units, ascending positions within each (item, version)
            order = np.lexsort((version_a, item_a))
            pair = np.stack([item_a[order], version_a[order]], 1)
            cuts = np.flatnonzero((pair[1:] != pair[:-1]).any(1)) + 1
            self.versions_ = [[] for _ in range(int(item_a.max()) + 1)]
            for units in np.split(order, cuts):
                self.versions_[int(item_a[units[0]])].append(units)

    def __len__(self) -> int:
        if self.versions_ is None:
            return math.ceil(len(self.lengths) / self.batch_size)
        expected = sum(np.mean([len(u) for u in vs]) for vs in self.versions_ if vs)
        return max(1, math.ceil(expected / self.batch_size))

    def _chosen(self) -> np.ndarray:
        """Unit positions of this epoch: one drawn version of every item."""
        assert self.versions_ is not None
        draws = torch.rand(len(self.versions_), generator=self.generator).numpy()
        idx = [vs[min(int(u * len(vs)), len(vs) - 1)]
               for vs, u in zip(self.versions_, draws, strict=True) if vs]
        return np.concatenate(idx) if idx else np.zeros(0, dtype=int)

    def __iter__(self) -> Any:
        if self.versions_ is not None:
            chosen = self._chosen()
            perm = chosen[torch.randperm(len(chosen), generator=self.generator).numpy()]
        else:
            perm = torch.randperm(len(self.lengths), generator=self.generator).numpy()
        size = self.batch_size * self.pool
        batches: list[list[int]] = []
        for p0 in range(0, len(perm), size):
            chunk = perm[p0:p0 + size]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i:i + self.batch_size].tolist()
                        for i in range(0, len(chunk), self.batch_size)]
        order = torch.randperm(len(batches), generator=self.generator).tolist()
        return iter([batches[i] for i in order])


def seed_everything(seed: int) -> None:
    """Seed torch and numpy's global generators (python's ``random`` is not used here)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def _call(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    return model(x) if mask is None else model(x, mask)


def _loader(ds: UnitDataset, batch_size: int, *, shuffle: bool, sequences: bool,
            generator: torch.Generator | None = None, by_length: bool = False) -> DataLoader:
    def collate(b: list) -> Any:
        return collate_units(b, sequences=sequences)

    if shuffle and ds.sample_versions and generator is not None:
        # one version per item and epoch; batching by length too when asked (with equal
        # lengths the pools change nothing: plain shuffled batches)
        lengths = [a.shape[-1] if by_length and not sequences else 0 for a in ds.units.arrays]
        sampler = LengthBatchSampler(lengths, batch_size, generator, item=ds.units.item,
                                     version=ds.units.version)
        return DataLoader(ds, batch_sampler=sampler, num_workers=0, collate_fn=collate)
    if shuffle and by_length and not sequences and generator is not None:
        lengths = [a.shape[-1] for a in ds.units.arrays]
        if len(set(lengths)) > 1:
            return DataLoader(ds, batch_sampler=LengthBatchSampler(lengths, batch_size, generator),
                              num_workers=0, collate_fn=collate)
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=0, collate_fn=collate)


def _model_device(model: nn.Module) -> torch.device:
    p = next(iter(model.parameters()), None)
    return p.device if p is not None else torch.device("cpu")


@torch.no_grad()
def predict_units(model: nn.Module, ds: UnitDataset, *, batch_size: int = 16,
                  sequences: bool = False, embeddings: bool = False
                  ) -> dict[str, np.ndarray]:
    """Raw outputs of every unit: ``{task: (n_units, n_out)}`` (plus ``"_embedding"``).

    Runs on the model's device. Variable-length log-mels are batched only with units of
    exactly the same shape (never padded), so padding never changes a prediction.
    """
    model.eval()
    dev = _model_device(model)
    arrays = ds.units.arrays
    if sequences or len({a.shape for a in arrays}) <= 1:
        batches = [list(range(i, min(i + batch_size, len(arrays))))
                   for i in range(0, len(arrays), batch_size)]
    else:  # group equal shapes, then restore the unit order below
        by_shape: dict[tuple, list[int]] = {}
        for i, a in enumerate(arrays):
            by_shape.setdefault(a.shape, []).append(i)
        batches = [idx[j:j + batch_size] for idx in by_shape.values()
                   for j in range(0, len(idx), batch_size)]
    outs: dict[str, list[np.ndarray]] = {}
    order: list[int] = []
    for b in batches:
        x, mask, _ = collate_units([ds[i] for i in b], sequences=sequences)
        x = x.to(dev)
        mask = None if mask is None else mask.to(dev)
        o = _call(model, x, mask)
        if embeddings:
            o = {**o, "_embedding": model.embed(x) if mask is None else model.embed(x, mask)}
        for k, v in o.items():
            outs.setdefault(k, []).append(v.float().cpu().numpy())
        order += b
    inv = np.argsort(np.asarray(order, dtype=int), kind="stable")
    return {k: np.concatenate(v)[inv] for k, v in outs.items()}


class _WeightAverage:
    """Exponential moving average of a model's parameters and float buffers."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.model = copy.deepcopy(model)
        self.model.requires_grad_(False)

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        src = model.state_dict()
        for k, v in self.model.state_dict().items():
            if v.dtype.is_floating_point:
                v.mul_(self.decay).add_(src[k].detach(), alpha=1 - self.decay)
            else:
                v.copy_(src[k])


def _metrics(tasks: Sequence[TaskSpec], outputs: dict[str, np.ndarray], targets: np.ndarray,
             scales: dict[str, tuple[float, float]]) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score

    res: dict[str, float] = {}
    for j, t in enumerate(tasks):
        y = targets[:, j]
        ok = ~np.isnan(y)
        if not ok.any():
            continue
        out = outputs[t.name][ok]
        if t.kind == "classification":
            with warnings.catch_warnings():
                # a validation split of 1-2 subjects often lacks a class: the score is then
                # the mean recall over the classes present, as intended; one warning per
                # epoch would bury the progress lines
                warnings.simplefilter("ignore", UserWarning)
                bacc = balanced_accuracy_score(y[ok].astype(int), out.argmax(1))
            res[f"{t.name}_bacc"] = float(bacc)
        else:
            std = scales.get(t.name, (0.0, 1.0))[1]
            res[f"{t.name}_mae"] = float(np.mean(np.abs(out[:, 0] - y[ok])) * std)
    return res


def _distilled(main: torch.Tensor, logits: torch.Tensor, teacher: torch.Tensor,
               weight: float, temperature: float) -> torch.Tensor:
    """``(1 - w) * main + w * T^2 * KL(teacher || softmax(logits / T))`` (batch mean)."""
    if teacher.shape[1] != logits.shape[1]:
        raise ModelError(f"distillation: the targets carry {teacher.shape[1]} teacher "
                         f"probabilities for a head of {logits.shape[1]} classes")
    logq = torch.log_softmax(logits / temperature, dim=1)
    kl = (teacher * (torch.log(teacher.clamp_min(1e-8)) - logq)).sum(1).mean()
    return (1 - weight) * main + weight * temperature ** 2 * kl


def _mixup_draw(alpha: float, n: int, gen: torch.Generator) -> tuple[float, torch.Tensor]:
    """Mixing weight ``lam ~ Beta(alpha, alpha)`` folded to ``>= 0.5`` (the batch's own
    labels dominate) and a permutation of the batch, both from the engine's generator."""
    seed = int(torch.randint(0, 2**31 - 1, (), generator=gen))
    lam = float(np.random.default_rng(seed).beta(alpha, alpha))
    return max(lam, 1.0 - lam), torch.randperm(n, generator=gen)


def _fingerprint(model: nn.Module, tasks: Sequence[TaskSpec], cfg: TrainConfig,
                 n_train: int, n_val: int) -> str:
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    c = {k: v for k, v in asdict(cfg).items()
         if k not in ("progress", "resume", "n_threads", "device")}
    for k in _NEW_FIELDS:  # at their defaults they leave older checkpoints resumable
        if c.get(k) == getattr(TrainConfig, k):
            c.pop(k, None)
    blob = json.dumps([repr(shapes), [asdict(t) for t in tasks], c, n_train, n_val],
                      default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_model(model: nn.Module, train: UnitDataset, val: UnitDataset | None, *,
                tasks: Sequence[TaskSpec], config: TrainConfig,
                class_weights: dict[str, np.ndarray] | None = None,
                scales: dict[str, tuple[float, float]] | None = None,
                run_dir: str | Path | None = None, sequences: bool = False,
                callbacks: Sequence[EpochCallback] = ()) -> list[dict[str, Any]]:
    """Train ``model`` in place; on return it holds the best-validation-loss weights.

    Parameters
    ----------
    model : a deep family module
    train, val : datasets (``val`` None or empty: no early stopping, last weights kept)
    tasks : the tasks, in target-column order
    config : :class:`TrainConfig`
    class_weights : task -> class weights for the cross-entropy
    scales : task -> (mean, std) of standardised regression targets (metrics in raw units)
    run_dir : folder for checkpoint, history and plots (None: nothing written)
    sequences : the units are segment sequences (ssl_attention)
    callbacks : called after every epoch (and its checkpoint) with (epoch, history row);
        a callback that raises stops training and the exception propagates (the weights
        are then those of the last epoch, and no history or plots are written)

    Returns
    -------
    list of dict
        History: ``epoch``, ``train_loss``, ``val_loss``, ``val_<task>_bacc`` /
        ``val_<task>_mae``, ``seconds``.

    Raises
    ------
    ModelError
        A checkpoint in ``run_dir`` belongs to a different run (other model, data or
        settings); delete it or use another folder.
    """
    epochs = iter_train(model, train, val, tasks=tasks, config=config,
                        class_weights=class_weights, scales=scales, run_dir=run_dir,
                        sequences=sequences)
    try:
        while True:
            try:
                row = next(epochs)
            except StopIteration as done:
                return done.value
            for cb in callbacks:
                cb(int(row["epoch"]), row)
    finally:
        epochs.close()


def iter_train(model: nn.Module, train: UnitDataset, val: UnitDataset | None, *,
               tasks: Sequence[TaskSpec], config: TrainConfig,
               class_weights: dict[str, np.ndarray] | None = None,
               scales: dict[str, tuple[float, float]] | None = None,
               run_dir: str | Path | None = None, sequences: bool = False
               ) -> Generator[dict[str, Any], None, list[dict[str, Any]]]:
    """:func:`train_model` as a generator: yields each epoch's history row as it ends.

    Lets a caller interleave several trainings epoch by epoch (the folds of an ASHA trial
    run in lockstep, see :mod:`vocalmind.training.tuning`) and stop whenever it likes:
    closing the generator early leaves the last epoch's weights in ``model`` and writes
    no history or plots. Run to exhaustion, it does exactly what :func:`train_model` does
    and returns the history (``StopIteration.value``).

    Yields
    ------
    dict
        The history row of the epoch just finished (see :func:`train_model`).
    """
    from rich.progress import BarColumn, TextColumn, TimeRemainingColumn

    scales = scales or {}
    old_threads = torch.get_num_threads()
    torch.set_num_threads(config.n_threads)
    try:
        seed_everything(config.seed)
        dev = resolve_device(config.device)
        model.to(dev)
        gen = torch.Generator().manual_seed(config.seed)
        train.generator = gen
        has_val = val is not None and len(val) > 0
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ModelError("no trainable parameters: every layer is frozen")
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        task_loss = MultiTaskLoss(tasks, class_weights,
                                  label_smoothing=config.label_smoothing).to(dev)

        def loss_fn(out: dict[str, torch.Tensor], y: torch.Tensor
                    ) -> tuple[torch.Tensor, dict[str, float]]:
            main, parts = task_loss(out, y[:, :len(tasks)])
            if config.distill_weight <= 0:
                return main, parts
            return _distilled(main, out[tasks[0].name], y[:, len(tasks):],
                              config.distill_weight, config.distill_temperature), parts

        # validation loss without smoothing: comparable across settings, a proper score
        val_loss_fn = MultiTaskLoss(tasks, class_weights)
        loader = _loader(train, config.batch_size, shuffle=True, sequences=sequences,
                         generator=gen, by_length=config.batch_by_length)
        total_steps = config.epochs * len(loader)
        sched = torch.optim.lr_scheduler.LambdaLR(
            opt, lambda step: lr_factor(config.schedule, step, total_steps))
        ema = _WeightAverage(model, config.ema_decay) if config.ema_decay > 0 else None
        history: list[dict[str, Any]] = []
        best_loss, bad_epochs, best_state, start = float("inf"), 0, None, 0
        ckpt = Path(run_dir) / "checkpoint.pt" if run_dir is not None else None
        fp = _fingerprint(model, tasks, config, len(train), len(val) if has_val else 0)
        if ckpt is not None and ckpt.exists() and config.resume:
            state = torch.load(ckpt, weights_only=True, map_location=dev)
            if state.get("fingerprint") != fp:
                raise ModelError(f"{ckpt} belongs to another run (model, data or settings "
                                 "differ); delete it or choose another run_dir")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            if "scheduler" in state:
                sched.load_state_dict(state["scheduler"])
            if ema is not None and state.get("ema") is not None:
                ema.model.load_state_dict(state["ema"])
            torch.set_rng_state(state["torch_rng"].cpu())
            gen.set_state(state["gen_rng"].cpu())
            history, best_loss = state["history"], state["best_loss"]
            bad_epochs, best_state, start = state["bad_epochs"], state["best_state"], state["epoch"]
        stopped = bool(history) and config.patience > 0 and bad_epochs >= config.patience
        with progress_bar(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[info]}"),
                      TimeRemainingColumn(), disable=not config.progress, transient=True) as bar:
            ep_task = bar.add_task("epochs", total=config.epochs, completed=start, info="")
            for epoch in range(start, config.epochs):
                if stopped:
                    break
                t0 = time.perf_counter()
                model.train()
                total, n = 0.0, 0
                b_task = bar.add_task(f"epoch {epoch + 1}", total=len(loader), info="")
                for x, mask, y in loader:
                    x, y = x.to(dev, non_blocking=True), y.to(dev, non_blocking=True)
                    mask = None if mask is None else mask.to(dev)
                    opt.zero_grad(set_to_none=True)
                    if config.mixup_alpha > 0 and mask is None and len(y) > 1:
                        lam, perm = _mixup_draw(config.mixup_alpha, len(y), gen)
                        out = _call(model, lam * x + (1 - lam) * x[perm.to(dev)], None)
                        loss_a, _ = loss_fn(out, y)
                        loss_b, _ = loss_fn(out, y[perm.to(dev)])
                        loss = lam * loss_a + (1 - lam) * loss_b
                    else:
                        loss, _ = loss_fn(_call(model, x, mask), y)
                    if loss.requires_grad:
                        loss.backward()
                        if config.grad_clip > 0:
                            nn.utils.clip_grad_norm_(params, config.grad_clip)
                        opt.step()
                        if ema is not None:
                            ema.update(model)
                    sched.step()
                    total += float(loss.detach()) * len(y)
                    n += len(y)
                    bar.advance(b_task)
                bar.remove_task(b_task)
                row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total / max(n, 1),
                                       "lr": float(opt.param_groups[0]["lr"])}
                judged = ema.model if ema is not None else model
                if has_val:
                    assert val is not None
                    out_v = predict_units(judged, val, batch_size=config.batch_size,
                                          sequences=sequences)
                    vl, _ = val_loss_fn({k: torch.from_numpy(v) for k, v in out_v.items()},
                                        torch.from_numpy(val.targets))
                    row["val_loss"] = float(vl)
                    row.update({f"val_{k}": v for k, v in
                                _metrics(tasks, out_v, val.targets, scales).items()})
                    if row["val_loss"] < best_loss - config.min_delta:
                        best_loss, bad_epochs = row["val_loss"], 0
                        best_state = {k: v.detach().cpu().clone()
                                      for k, v in judged.state_dict().items()}
                    else:
                        bad_epochs += 1
                    stopped = config.patience > 0 and bad_epochs >= config.patience
                row["seconds"] = time.perf_counter() - t0
                history.append(row)
                if ckpt is not None:
                    with atomic_path(ckpt) as tmp:
                        torch.save({"fingerprint": fp, "epoch": epoch + 1,
                                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "scheduler": sched.state_dict(),
                                    "ema": None if ema is None else ema.model.state_dict(),
                                    "torch_rng": torch.get_rng_state(),
                                    "gen_rng": gen.get_state(), "history": history,
                                    "best_loss": best_loss, "bad_epochs": bad_epochs,
                                    "best_state": best_state}, tmp)
                bar.update(ep_task, advance=1, info=f"loss {row['train_loss']:.3f}"
                           + (f" val {row['val_loss']:.3f}" if has_val else ""))
                yield row
        if best_state is not None:
            model.load_state_dict(best_state)
        elif ema is not None:  # no validation set: the average of the last steps
            model.load_state_dict(ema.model.state_dict())
        model.eval()
        if run_dir is not None:
            write_table(pd.DataFrame(history), Path(run_dir) / "history.csv")
            save_training_plots(model, history, val if has_val else train, tasks=tasks,
                                out_dir=Path(run_dir) / "plots", batch_size=config.batch_size,
                                sequences=sequences)
        return history
    finally:
        torch.set_num_threads(old_threads)


def save_training_plots(model: nn.Module, history: Sequence[dict[str, Any]], ds: UnitDataset, *,
                        tasks: Sequence[TaskSpec], out_dir: str | Path, batch_size: int = 16,
                        sequences: bool = False) -> list[Path]:
    """Write loss/metric curves, ROC curves and a 2-D PCA of the embeddings.

    ``ds`` is the validation set (or the training set when there is none); the figure
    titles say which. The figures are :mod:`vocalmind.figures`' (object API, no global
    backend change), written atomically by its ``save_figure``.

    Returns
    -------
    list of Path
        ``loss.png``, ``metric.png`` (when validation metrics exist), ``roc_<task>.png``
        per classification task, ``embedding_<task>.png`` per task.
    """
    from sklearn.decomposition import PCA

    from vocalmind.figures import (
        plot_embedding_scatter,
        plot_learning_curve,
        plot_roc_curves,
        plot_validation_metrics,
        save_figure,
    )

    out_dir = Path(out_dir)
    h = pd.DataFrame(list(history))
    written = [save_figure(plot_learning_curve(h), out_dir / "loss.png")]
    if any(c.startswith("val_") and c != "val_loss" for c in h.columns):
        written.append(save_figure(plot_validation_metrics(h), out_dir / "metric.png"))
    if len(ds) == 0:
        return written
    which = "validation" if ds.augment is None else "training"
    out = predict_units(model, ds, batch_size=batch_size, sequences=sequences, embeddings=True)
    emb = out["_embedding"]
    xy = (PCA(n_components=2).fit_transform(emb) if emb.shape[0] >= 2 and emb.shape[1] >= 2
          else np.zeros((emb.shape[0], 2)))
    for j, t in enumerate(tasks):
        y = ds.targets[:, j]
        ok = ~np.isnan(y)
        if not ok.any():
            continue
        if t.kind == "classification":
            logits = out[t.name][ok]
            p = np.exp(logits - logits.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            names = [f"class {c}" for c in range(t.n_classes)]
            fig = plot_roc_curves([names[int(c)] for c in y[ok]], p, names,
                                  title=f"ROC {t.name} ({which} units)")
            written.append(save_figure(fig, out_dir / f"roc_{t.name}.png"))
        fig = plot_embedding_scatter(xy[ok], y[ok], label=t.name,
                                     categorical=t.kind == "classification",
                                     title=f"PCA of embeddings ({which} units)")
        written.append(save_figure(fig, out_dir / f"embedding_{t.name}.png"))
    return written
