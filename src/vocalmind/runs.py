"""The run-folder format: what ``vocalmind experiment run`` writes and ``assess`` reads.

A run folder holds::

    config.yaml        the resolved config (after --set overrides), with the seed
    metrics.json       task, protocol, n_subjects, headline metrics and their _ci pairs
    predictions.csv    one row per evaluated unit (out-of-fold predictions)
    failures.csv       inputs skipped, with the reason (only if any)
    quality.csv        the quality record of every training recording
    model/             the final model:
        model.json     the model card: what the model was trained on and for, and the
                       SHA-256 of every file the model loads (``files``)
        model.joblib   a scikit-learn model, or model.pt for a deep model
        recipe.joblib  the fitted input recipe (:mod:`vocalmind.recipe`)
        training/      training curves and checkpoints (not loaded; not hashed)
    importance.csv     the evaluated model's permutation importance (feature models, when
                       ``evaluation.importance_top_k`` is set)
    search/            one folder per outer fold (``fold_<k>``) and ``final``, for models
                       whose settings are chosen in-fold (``model.tune``, ``model.search``):
                       search.json, trials.csv, decisions.jsonl, best.json
    report.html        pictures and tables; figures/ holds the PNGs

Integrity
---------
:func:`write_model_card` records the SHA-256 of every file under ``model/`` except the card
itself and ``training/``; :func:`verify_model_dir` recomputes them and raises
:class:`~vocalmind.errors.ModelIntegrityError` naming the first changed or missing file.
:func:`load_model` always verifies first, so a swapped ``model.joblib`` is refused, and a
card that is truncated or not JSON is reported as such instead of a traceback. Because the
card holds the hashes, the SHA-256 of ``model.json`` alone identifies the whole model (what
the service records).

Writing
-------
A run is built under ``<folder>.partial`` (:func:`partial_run_dir`) and renamed into place
only when complete; a run that fails or is interrupted removes its ``.partial`` folder, so
nothing half-written is left that looks like a run. :func:`save_model` writes ``model/``.

This module imports nothing from the rest of vocalmind except :mod:`vocalmind.errors` and
:mod:`vocalmind.files` at import time: it is a foundation the experiment runner, ``assess``,
the Ray batch scorer and the service all build on.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vocalmind.errors import ConfigError, ModelError, ModelIntegrityError
from vocalmind.files import check_writable, write_json

__all__ = [
    "MODEL_CARD",
    "MODEL_DIR",
    "NOT_HASHED",
    "sha256_file",
    "model_dir_of",
    "read_model_card",
    "hashed_files",
    "write_model_card",
    "verify_model_dir",
    "load_model",
    "speaker_normalised_card",
    "new_run_dir",
    "partial_run_dir",
    "save_model",
]

#: the model card's file name, inside ``model/``
MODEL_CARD = "model.json"
#: the model's folder inside a run folder
MODEL_DIR = "model"
#: folders under ``model/`` that the model never loads (so are not hashed)
NOT_HASHED = ("training",)
_CHUNK = 1 << 20


def sha256_file(path: str | Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def model_dir_of(run_dir: str | Path) -> Path:
    """The model folder of a run folder (``run_dir/model``), or ``run_dir`` itself when it
    is a model folder already (holds ``model.json``).

    Raises
    ------
    ModelError
        Neither ``run_dir/model/model.json`` nor ``run_dir/model.json`` exists.
    """
    run_dir = Path(run_dir)
    if (run_dir / MODEL_DIR / MODEL_CARD).is_file():
        return run_dir / MODEL_DIR
    if (run_dir / MODEL_CARD).is_file():
        return run_dir
    raise ModelError(f"{run_dir}: not a finished run folder (no model/model.json); "
                     "make one with `vocalmind experiment run CONFIG.yaml`")


def read_model_card(model_dir: str | Path) -> dict[str, Any]:
    """The parsed ``model.json`` of a model folder.

    Raises
    ------
    ModelIntegrityError
        The card is missing, empty, truncated or not a JSON object.
    """
    card = Path(model_dir) / MODEL_CARD
    if not card.is_file():
        raise ModelIntegrityError(card, "missing; the run folder is incomplete")
    try:
        info = json.loads(card.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ModelIntegrityError(
            card, f"not valid JSON ({e.__class__.__name__}: truncated or overwritten?); "
            "re-run the experiment to rebuild the model") from None
    if not isinstance(info, dict) or "kind" not in info:
        raise ModelIntegrityError(card, "not a vocalmind model card (no 'kind' key)")
    return info


def hashed_files(model_dir: Path) -> dict[str, str]:
    """SHA-256 of every file under ``model_dir`` the model loads (relative path -> hex),
    sorted: ``training/``, the card itself and atomic writes in progress left out."""
    out: dict[str, str] = {}
    for p in sorted(model_dir.rglob("*")):
        rel = p.relative_to(model_dir)
        if not p.is_file() or rel.parts[0] in NOT_HASHED or rel.as_posix() == MODEL_CARD:
            continue
        if p.name.startswith(".") and p.name.endswith(".part"):
            continue  # an atomic write in progress (files.atomic_path)
        out[rel.as_posix()] = sha256_file(p)
    return out


def write_model_card(model_dir: str | Path, info: dict[str, Any] | None = None) -> Path:
    """Write ``model.json`` with the SHA-256 of every file the model loads.

    Parameters
    ----------
    model_dir : the model folder (``<run>/model``), holding the saved model files
    info : the card's other fields (task, label, features ...); None = keep those of the
        existing ``model.json``

    Returns
    -------
    Path of ``model.json``. Its ``files`` key maps each file's path relative to
    ``model_dir`` (``model.joblib``, ``recipe.joblib`` ...) to its SHA-256; ``training/``
    and the card itself are left out.

    Raises
    ------
    ModelIntegrityError
        ``info`` is None and there is no readable card to keep.
    """
    model_dir = Path(model_dir)
    card = dict(info) if info is not None else read_model_card(model_dir)
    card["files"] = hashed_files(model_dir)
    return write_json(model_dir / MODEL_CARD, card)


def verify_model_dir(model_dir: str | Path) -> dict[str, Any]:
    """Check every file the model card lists against its recorded SHA-256.

    Parameters
    ----------
    model_dir : a model folder (``<run>/model``) or a run folder

    Returns
    -------
    dict, the parsed model card

    Raises
    ------
    ModelIntegrityError
        Naming the file: the card is broken; a listed file is missing or changed; a model
        file (``model.*``, ``recipe.*``) is present but not listed; the card lists no files
        (made before cards held hashes: re-run the experiment).
    ModelError
        ``model_dir`` is not a run or model folder.
    """
    model_dir = model_dir_of(model_dir)
    info = read_model_card(model_dir)
    files = info.get("files")
    if not isinstance(files, dict) or not files:
        raise ModelIntegrityError(
            model_dir / MODEL_CARD, "lists no file hashes (made by an older vocalmind?); "
            "re-run the experiment so the model card can vouch for the model files")
    for rel, digest in files.items():
        p = model_dir / rel
        if not p.is_file():
            raise ModelIntegrityError(p, "missing; the model card lists it")
        if sha256_file(p) != digest:
            raise ModelIntegrityError(
                p, "changed since the model was saved (SHA-256 differs from model.json); "
                "restore the original file or re-run the experiment")
    for p in model_dir.iterdir():
        if p.is_file() and p.name != MODEL_CARD and p.stem in ("model", "recipe") \
                and p.name not in files:
            raise ModelIntegrityError(p, "not listed in model.json; a model file was added "
                                         "after the model was saved")
    return info


def speaker_normalised_card(info: dict[str, Any]) -> bool:
    """Whether the model of a card standardises its inputs per speaker (so it must be given
    the speaker of every recording, with enough of that speaker's recordings).

    Cards record it as ``speaker_normalization`` (feature models and deep families alike);
    cards written before that key carry only the feature models' setting under
    ``features``.
    """
    if "speaker_normalization" in info:
        return bool(info["speaker_normalization"])
    return bool((info.get("features") or {}).get("speaker_normalization"))


def load_model(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """Verify and load the final model of a run folder and its model card.

    Parameters
    ----------
    run_dir : a run folder (or its ``model/`` folder)

    Returns
    -------
    (estimator, card) : the fitted estimator and the parsed ``model.json``

    Raises
    ------
    ModelError
        Not a finished run folder.
    ModelIntegrityError
        The card is broken or a model file is missing, changed or unreadable (truncated,
        random bytes), naming the file.
    """
    model_dir = model_dir_of(run_dir)
    info = verify_model_dir(model_dir)
    kind = info.get("kind")
    if kind == "sklearn":
        import joblib

        path = model_dir / "model.joblib"
        try:
            est = joblib.load(path)
        except Exception as e:  # unpickling foreign bytes raises anything
            raise ModelIntegrityError(
                path, f"cannot be loaded ({e.__class__.__name__}); truncated or not a "
                "vocalmind model file") from None
    elif kind == "deep":
        from vocalmind.training.estimator import DeepEstimator

        try:
            est = DeepEstimator.load(model_dir / "model.pt")
        except ModelError as e:
            raise ModelIntegrityError(model_dir / "model.pt", str(e)) from None
    else:
        raise ModelIntegrityError(model_dir / MODEL_CARD, f"unknown model kind {kind!r}")
    return est, info


def new_run_dir(out: str | Path | None, name: str, *, force: bool = False) -> Path:
    """The folder a new run will be renamed to: ``out``, or ``runs/<name>-<time>``.

    Checked before any work (hours of extraction must not end on an unwritable folder).

    Raises
    ------
    ConfigError
        The folder exists and ``force`` is False, or it cannot be written.
    """
    run_dir = Path(out) if out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    check_writable(run_dir, what="run folder", folder=True)
    if run_dir.exists():
        if not force:
            raise ConfigError(f"{run_dir} already exists; choose another --out or pass --force")
        shutil.rmtree(run_dir)
    return run_dir


@contextmanager
def partial_run_dir(final_dir: Path) -> Iterator[Path]:
    """Build a run in ``<final_dir>.partial``; rename it to ``final_dir`` on success.

    Any exception (or interruption) removes the ``.partial`` folder and propagates.
    """
    run_dir = final_dir.with_name(final_dir.name + ".partial")
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    try:
        yield run_dir
        if final_dir.exists():
            shutil.rmtree(final_dir)
        run_dir.rename(final_dir)
    except BaseException:
        # a failed or interrupted run leaves nothing behind that looks like a run
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def save_model(est: Any, model_dir: Path, *, recipe: Any, info: dict[str, Any]) -> Path:
    """Write a fitted model, its input recipe and the model card into ``model_dir``.

    Parameters
    ----------
    est : a fitted estimator: a deep one (it has ``save``) goes to ``model.pt``, anything
        else to ``model.joblib``
    model_dir : the run's ``model/`` folder (created)
    recipe : the fitted :class:`~vocalmind.recipe.Recipe` (``recipe.save(model_dir)``)
    info : what the card says beside ``kind`` and the file hashes (model, task, label,
        classes, corpus, training size ...)
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    recipe.save(model_dir)
    if hasattr(est, "save"):
        est.save(model_dir / "model.pt")
        kind = "deep"
    else:
        import joblib

        from vocalmind.files import atomic_path

        with atomic_path(model_dir / "model.joblib") as tmp:
            joblib.dump(est, tmp)
        kind = "sklearn"
    # the card hashes every file the model loads: assess refuses changes
    write_model_card(model_dir, {"kind": kind, **info})
    return model_dir
