"""The one training loop of the deep families.

:func:`train_model` trains any model that follows the protocol of :mod:`vocalmind.models`
(``forward(x[, mask]) -> {task: output}``, ``embed``, ``heads``) with Adam, a
:class:`~vocalmind.training.losses.MultiTaskLoss`, early stopping on a validation set
(the caller splits it by subject, see :func:`vocalmind.training.data.inner_split`),
and -- when a run folder is given -- a checkpoint after every epoch, from which an
interrupted run resumes to exactly the weights an uninterrupted run gives (model,
optimiser, early-stopping state and both random generators are saved).

Run folder layout::

    run_dir/checkpoint.pt     last epoch (atomic write; deleted by nobody)
    run_dir/history.csv       one row per epoch: losses and validation metrics
    run_dir/plots/loss.png, metric.png, roc_<task>.png, embedding_<task>.png
"""

from __future__ import annotations

import copy
import hashlib
import json
import time
from collections.abc import Callable, Generator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.utils.data import DataLoader

from vocalmind.errors import ConfigError, ModelError
from vocalmind.files import atomic_path, write_table
from vocalmind.progress import progress_bar
from vocalmind.training.data import UnitDataset, collate_units
from vocalmind.training.losses import MultiTaskLoss, TaskSpec

__all__ = ["TrainConfig", "seed_everything", "train_model", "iter_train", "predict_units",
           "EpochCallback", "save_training_plots"]

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
    n_threads : ``torch.set_num_threads`` during training
    patience : epochs without validation-loss improvement before stopping (0 = never stop)
    min_delta : smallest decrease of the validation loss that counts as improvement
    grad_clip : max gradient norm (0 = no clipping)
    progress : show a rich progress bar
    resume : resume from ``run_dir/checkpoint.pt`` when it exists
    """

    epochs: int = 30
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 0.0
    seed: int = 0
    n_threads: int = 2
    patience: int = 5
    min_delta: float = 0.0
    grad_clip: float = 5.0
    progress: bool = True
    resume: bool = True

    def __post_init__(self) -> None:
        for k in ("epochs", "batch_size", "n_threads"):
            if int(getattr(self, k)) < 1:
                raise ConfigError(f"training: {k}={getattr(self, k)} must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"training: lr={self.lr} must be > 0 (e.g. 1e-3)")
        if self.patience < 0:
            raise ConfigError(f"training: patience={self.patience} must be >= 0")


def seed_everything(seed: int) -> None:
    """Seed torch and numpy's global generators (python's ``random`` is not used here)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def _call(model: nn.Module, x: torch.Tensor, mask: torch.Tensor | None) -> dict[str, torch.Tensor]:
    return model(x) if mask is None else model(x, mask)


def _loader(ds: UnitDataset, batch_size: int, *, shuffle: bool, sequences: bool,
            generator: torch.Generator | None = None) -> DataLoader:
    return DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=generator,
                      num_workers=0, collate_fn=lambda b: collate_units(b, sequences=sequences))


@torch.no_grad()
def predict_units(model: nn.Module, ds: UnitDataset, *, batch_size: int = 16,
                  sequences: bool = False, embeddings: bool = False
                  ) -> dict[str, np.ndarray]:
    """Raw outputs of every unit: ``{task: (n_units, n_out)}`` (plus ``"_embedding"``).

    Variable-length log-mels are predicted one at a time, so padding never changes a
    prediction.
    """
    model.eval()
    same = len({a.shape for a in ds.units.arrays}) <= 1 or sequences
    loader = _loader(ds, batch_size if same else 1, shuffle=False, sequences=sequences)
    outs: dict[str, list[np.ndarray]] = {}
    for x, mask, _ in loader:
        o = _call(model, x, mask)
        if embeddings:
            o = {**o, "_embedding": model.embed(x) if mask is None else model.embed(x, mask)}
        for k, v in o.items():
            outs.setdefault(k, []).append(v.float().numpy())
    return {k: np.concatenate(v) for k, v in outs.items()}


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
            res[f"{t.name}_bacc"] = float(balanced_accuracy_score(y[ok].astype(int),
                                                                  out.argmax(1)))
        else:
            std = scales.get(t.name, (0.0, 1.0))[1]
            res[f"{t.name}_mae"] = float(np.mean(np.abs(out[:, 0] - y[ok])) * std)
    return res


def _fingerprint(model: nn.Module, tasks: Sequence[TaskSpec], cfg: TrainConfig,
                 n_train: int, n_val: int) -> str:
    shapes = [(k, tuple(v.shape)) for k, v in model.state_dict().items()]
    c = {k: v for k, v in asdict(cfg).items() if k not in ("progress", "resume", "n_threads")}
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
        gen = torch.Generator().manual_seed(config.seed)
        train.generator = gen
        has_val = val is not None and len(val) > 0
        params = [p for p in model.parameters() if p.requires_grad]
        if not params:
            raise ModelError("no trainable parameters: every layer is frozen")
        opt = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
        loss_fn = MultiTaskLoss(tasks, class_weights)
        history: list[dict[str, Any]] = []
        best_loss, bad_epochs, best_state, start = float("inf"), 0, None, 0
        ckpt = Path(run_dir) / "checkpoint.pt" if run_dir is not None else None
        fp = _fingerprint(model, tasks, config, len(train), len(val) if has_val else 0)
        if ckpt is not None and ckpt.exists() and config.resume:
            state = torch.load(ckpt, weights_only=True)
            if state.get("fingerprint") != fp:
                raise ModelError(f"{ckpt} belongs to another run (model, data or settings "
                                 "differ); delete it or choose another run_dir")
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            torch.set_rng_state(state["torch_rng"])
            gen.set_state(state["gen_rng"])
            history, best_loss = state["history"], state["best_loss"]
            bad_epochs, best_state, start = state["bad_epochs"], state["best_state"], state["epoch"]
        loader = _loader(train, config.batch_size, shuffle=True, sequences=sequences,
                         generator=gen)
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
                    opt.zero_grad()
                    loss, _ = loss_fn(_call(model, x, mask), y)
                    if loss.requires_grad:
                        loss.backward()
                        if config.grad_clip > 0:
                            nn.utils.clip_grad_norm_(params, config.grad_clip)
                        opt.step()
                    total += float(loss.detach()) * len(y)
                    n += len(y)
                    bar.advance(b_task)
                bar.remove_task(b_task)
                row: dict[str, Any] = {"epoch": epoch + 1, "train_loss": total / max(n, 1)}
                if has_val:
                    assert val is not None
                    out = predict_units(model, val, batch_size=config.batch_size,
                                        sequences=sequences)
                    vl, _ = loss_fn({k: torch.from_numpy(v) for k, v in out.items()},
                                    torch.from_numpy(val.targets))
                    row["val_loss"] = float(vl)
                    row.update({f"val_{k}": v for k, v in
                                _metrics(tasks, out, val.targets, scales).items()})
                    if row["val_loss"] < best_loss - config.min_delta:
                        best_loss, bad_epochs = row["val_loss"], 0
                        best_state = copy.deepcopy(model.state_dict())
                    else:
                        bad_epochs += 1
                    stopped = config.patience > 0 and bad_epochs >= config.patience
                row["seconds"] = time.perf_counter() - t0
                history.append(row)
                if ckpt is not None:
                    with atomic_path(ckpt) as tmp:
                        torch.save({"fingerprint": fp, "epoch": epoch + 1,
                                    "model": model.state_dict(), "optimizer": opt.state_dict(),
                                    "torch_rng": torch.get_rng_state(),
                                    "gen_rng": gen.get_state(), "history": history,
                                    "best_loss": best_loss, "bad_epochs": bad_epochs,
                                    "best_state": best_state}, tmp)
                bar.update(ep_task, advance=1, info=f"loss {row['train_loss']:.3f}"
                           + (f" val {row['val_loss']:.3f}" if has_val else ""))
                yield row
        if best_state is not None:
            model.load_state_dict(best_state)
        model.eval()
        if run_dir is not None:
            write_table(pd.DataFrame(history), Path(run_dir) / "history.csv")
            save_training_plots(model, history, val if has_val else train, tasks=tasks,
                                out_dir=Path(run_dir) / "plots", batch_size=config.batch_size,
                                sequences=sequences)
        return history
    finally:
        torch.set_num_threads(old_threads)


def _save_fig(fig: Any, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path


def save_training_plots(model: nn.Module, history: Sequence[dict[str, Any]], ds: UnitDataset, *,
                        tasks: Sequence[TaskSpec], out_dir: str | Path, batch_size: int = 16,
                        sequences: bool = False) -> list[Path]:
    """Write loss/metric curves, ROC curves and a 2-D PCA of the embeddings.

    ``ds`` is the validation set (or the training set when there is none); the figure
    titles say which. Uses matplotlib's object API (no global backend change).

    Returns
    -------
    list of Path
        ``loss.png``, ``metric.png`` (when validation metrics exist), ``roc_<task>.png``
        per classification task, ``embedding_<task>.png`` per task.
    """
    from matplotlib.figure import Figure
    from sklearn.decomposition import PCA
    from sklearn.metrics import roc_curve

    out_dir = Path(out_dir)
    written: list[Path] = []
    h = pd.DataFrame(list(history))
    fig = Figure(figsize=(5, 3.5))
    ax = fig.subplots()
    for col in ("train_loss", "val_loss"):
        if col in h:
            ax.plot(h["epoch"], h[col], marker="o", label=col.replace("_", " "))
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    ax.legend()
    written.append(_save_fig(fig, out_dir / "loss.png"))
    mcols = [c for c in h.columns if c.startswith("val_") and c != "val_loss"]
    if mcols:
        fig = Figure(figsize=(5, 3.5))
        ax = fig.subplots()
        for c in mcols:
            ax.plot(h["epoch"], h[c], marker="o", label=c[4:])
        ax.set_xlabel("epoch")
        ax.set_ylabel("validation metric (bacc / MAE)")
        ax.legend()
        written.append(_save_fig(fig, out_dir / "metric.png"))
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
            fig = Figure(figsize=(4.5, 4))
            ax = fig.subplots()
            classes = [1] if t.n_classes == 2 else range(t.n_classes)
            for c in classes:
                yc = (y[ok] == c).astype(int)
                if 0 < yc.sum() < len(yc):
                    fpr, tpr, _ = roc_curve(yc, p[:, c])
                    ax.plot(fpr, tpr, label=f"class {c}")
            ax.plot([0, 1], [0, 1], "k:", lw=0.8)
            ax.set_xlabel("false positive rate")
            ax.set_ylabel("true positive rate")
            ax.set_title(f"ROC {t.name} ({which} units)")
            ax.legend(fontsize=7)
            written.append(_save_fig(fig, out_dir / f"roc_{t.name}.png"))
        fig = Figure(figsize=(4.5, 4))
        ax = fig.subplots()
        sc = ax.scatter(xy[ok, 0], xy[ok, 1], c=y[ok], s=12,
                        cmap="tab10" if t.kind == "classification" else "viridis")
        fig.colorbar(sc, ax=ax, label=t.name)
        ax.set_title(f"PCA of embeddings ({which} units)")
        written.append(_save_fig(fig, out_dir / f"embedding_{t.name}.png"))
    return written
