"""What one assessment computes: model output, clinical voice markers, band with uncertainty.

Kept apart from the queue (:mod:`vocalmind.service.worker`) so it can be tested and reused
without a database: :func:`compute_assessment` takes files and returns the result JSON.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from vocalmind.errors import FeatureError, ModelError
from vocalmind.runs import (
    MODEL_CARD,
    MODEL_DIR,
    hashed_files,
    sha256_file,
    speaker_normalised_card,
)
from vocalmind.scales import NOT_A_DIAGNOSIS as DISCLAIMER

__all__ = ["MARKERS", "baseline_stats", "compute_assessment", "model_card", "model_files",
           "public_corpus", "scrub_paths", "verify_model_files", "voice_markers"]

#: Clinical voice markers shown per assessment: name -> (feature of the ``clinical`` set,
#: label, unit, transform). ``F0_sd`` is the square root of the set's ``F0_var``.
MARKERS: dict[str, tuple[str, str, str, str]] = {
    "F0_mean": ("F0_mean", "mean pitch (F0)", "Hz", "identity"),
    "F0_sd": ("F0_var", "pitch variability (F0 SD)", "Hz", "sqrt"),
    "VUV_mean": ("VUV_mean", "voiced fraction", "ratio", "identity"),
    "H1H2_mean": ("H1H2_mean", "H1-H2 (breathiness)", "dB", "identity"),
    "NAQ_mean": ("NAQ_mean", "normalised amplitude quotient", "ratio", "identity"),
    "QOQ_mean": ("QOQ_mean", "quasi-open quotient", "ratio", "identity"),
    "creak_mean": ("creak_mean", "creaky voice probability", "ratio", "identity"),
    "Peak2RMS_mean": ("Peak2RMS_mean", "peak-to-RMS ratio", "ratio", "identity"),
}

#: Central coverage of the score interval built from cross-validated residuals.
INTERVAL_LEVEL = 0.8


def _finite(x: float) -> float | None:
    return float(x) if x is not None and math.isfinite(float(x)) else None


def model_files(run_dir: str | Path) -> dict[str, str]:
    """SHA-256 of every file under ``run_dir/model`` that a model may load, the model card
    included (:func:`vocalmind.runs.hashed_files` plus ``model.json``).

    Returns
    -------
    dict
        path relative to the run folder (``model/model.joblib``) -> SHA-256 (hex), sorted;
        ``model/training/`` (curves, checkpoints) is left out.
    """
    model_dir = Path(run_dir) / MODEL_DIR
    out = {f"{MODEL_DIR}/{k}": v for k, v in hashed_files(model_dir).items()}
    if (model_dir / MODEL_CARD).is_file():
        out[f"{MODEL_DIR}/{MODEL_CARD}"] = sha256_file(model_dir / MODEL_CARD)
    return dict(sorted(out.items()))


def fingerprint(files: dict[str, str]) -> str:
    """One SHA-256 over a model's file hashes: the identity of a model version."""
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()


def verify_model_files(card: dict[str, Any]) -> None:
    """Check that every file of a registered model is still the one registered.

    Raises
    ------
    ModelError
        Naming the first file (relative to the run folder, never the server path) that
        changed, disappeared or appeared since registration.
    """
    recorded: dict[str, str] | None = card["info"].get("files")
    if not recorded:
        raise ModelError("this model version was registered without file hashes; a "
                         "superuser must register its run folder again")
    now = model_files(card["path"])
    for rel in sorted(set(recorded) | set(now)):
        if rel not in now:
            why = "is missing"
        elif rel not in recorded:
            why = "was added"
        elif now[rel] != recorded[rel]:
            why = "changed"
        else:
            continue
        raise ModelError(f"the model file {rel} {why} since this model version was "
                         "registered; it is refused. A superuser must check the run folder "
                         "and register it again")


def public_corpus(corpus: str | None) -> str | None:
    """What the API shows of a model's training data: a name, never a server path."""
    if corpus is None:
        return None
    return Path(corpus).name if ("/" in corpus or "\\" in corpus) else corpus


def is_synthetic_demo(card: dict[str, Any]) -> bool:
    """True for models trained on ``vocalmind demo``'s synthetic espeak cohort."""
    from vocalmind.demo import CORPUS

    return CORPUS in str(card.get("corpus") or "") or bool(card["info"].get("synthetic"))


def scrub_paths(message: str, paths: dict[str, str]) -> str:
    """``message`` with each server path (key) replaced by a neutral word (value)."""
    for path, word in sorted(paths.items(), key=lambda kv: -len(kv[0])):
        if path:
            message = message.replace(path, word)
    return message


def model_card(run_dir: str | Path) -> dict[str, Any]:
    """What the service records about a run folder when it is registered.

    Returns
    -------
    dict
        ``path`` (resolved), ``model_sha256`` (:func:`fingerprint` of the SHA-256 of every
        file under ``model/`` but ``training/``; kept in ``info["files"]`` and checked
        before every assessment), ``task``, ``label``, ``model``, ``corpus`` and ``info``:
        classes, feature set, headline metrics, and for a regression on a clinical scale
        the quantiles of the out-of-fold residuals (for the score interval).

    Raises
    ------
    ModelError
        Not a finished run folder.
    """
    run_dir = Path(run_dir).resolve()
    meta = run_dir / "model" / "model.json"
    if not meta.is_file():
        raise ModelError(f"{run_dir}: not a finished run folder (no model/model.json); make one "
                         "with `vocalmind experiment run CONFIG.yaml` or `vocalmind demo`")
    raw = meta.read_bytes()
    info = json.loads(raw)
    metrics: dict[str, Any] = {}
    if (run_dir / "metrics.json").is_file():
        m = json.loads((run_dir / "metrics.json").read_text())
        metrics = {k: m[k] for k in ("uar", "accuracy", "macro_f1", "mae", "rmse", "r",
                                     "protocol", "n_subjects") if k in m}
    card_info: dict[str, Any] = {
        "classes": info.get("classes"), "features": (info.get("features") or {}).get("set"),
        "n_train": info.get("n_train"), "n_subjects": info.get("n_subjects"),
        "metrics": metrics,
        "speaker_normalization": speaker_normalised_card(info),
        "files": model_files(run_dir),
    }
    pred_csv = run_dir / "predictions.csv"
    if info["task"] == "regression" and pred_csv.is_file():
        import pandas as pd

        pred = pd.read_csv(pred_csv)
        resid = (pred["y_true"].astype(float) - pred["y_pred"].astype(float)).dropna()
        if len(resid) >= 5:
            lo = (1 - INTERVAL_LEVEL) / 2
            card_info["residual_quantiles"] = [float(resid.quantile(lo)),
                                               float(resid.quantile(1 - lo))]
    card_info["synthetic"] = is_synthetic_demo({"corpus": info.get("corpus"), "info": {}})
    return {"path": str(run_dir), "model_sha256": fingerprint(card_info["files"]),
            "task": info["task"], "label": info["label"], "model": info["model"],
            "corpus": info.get("corpus"), "info": card_info}


def voice_markers(path: str | Path, *, max_duration_s: float | None = None) -> dict[str, float]:
    """The :data:`MARKERS` of one recording, from the ``clinical`` feature set.

    Parameters
    ----------
    path : recording (any format :func:`vocalmind.audio.load` reads), analysed at 16 kHz mono

    Returns
    -------
    dict
        marker name -> value (``F0_var`` already turned into an SD); NaN values are dropped.

    Raises
    ------
    AudioError, FeatureError
        Unreadable audio, or too little voiced speech for the descriptors.
    """
    import vocalmind.features.clinical  # noqa: F401  (registers the set)
    from vocalmind import SAMPLE_RATE
    from vocalmind.audio import load
    from vocalmind.features.base import get_feature_set

    fs = get_feature_set("clinical")
    y = load(path, sr=SAMPLE_RATE, max_duration_s=max_duration_s)
    values = dict(zip(fs.names(), fs.process_signal(y, SAMPLE_RATE), strict=True))
    out = {}
    for name, (feature, _, _, transform) in MARKERS.items():
        v = float(values[feature])
        if transform == "sqrt":
            v = math.sqrt(v) if v >= 0 else float("nan")
        if math.isfinite(v):
            out[name] = v
    return out


def baseline_stats(earlier: list[dict[str, float]]) -> dict[str, dict[str, Any]]:
    """Per marker: mean and SD over earlier *sessions* (each a dict of session means)."""
    out: dict[str, dict[str, Any]] = {}
    for name in MARKERS:
        vals = np.array([s[name] for s in earlier if s.get(name) is not None], dtype=float)
        if len(vals):
            out[name] = {"n_sessions": int(len(vals)), "mean": float(vals.mean()),
                         "sd": float(vals.std(ddof=1)) if len(vals) > 1 else None}
    return out


def _clinical_summary(pred: dict[str, Any], card: dict[str, Any]) -> dict[str, Any] | None:
    from vocalmind.scales import SCALES

    label = card["label"]
    base = label.split("_")[0]
    scale = SCALES.get(base)
    if scale is None:
        return None
    if card["task"] == "regression" and label == base:
        score = float(pred["prediction"])
        out: dict[str, Any] = {"scale": base, "score": score, "band": scale.band(score),
                               "range": [scale.low, scale.high]}
        q = card["info"].get("residual_quantiles")
        if q:
            lo = float(np.clip(score + q[0], scale.low, scale.high))
            hi = float(np.clip(score + q[1], scale.low, scale.high))
            out["interval"] = [lo, hi]
            out["interval_level"] = INTERVAL_LEVEL
            out["interval_bands"] = [scale.band(lo), scale.band(hi)]
            out["interval_basis"] = ("central 80 % of the cross-validated residuals of this "
                                     "model (subject-independent folds)")
        mae = card["info"].get("metrics", {}).get("mae")
        if mae is not None:
            out["cv_mae"] = mae
        return out
    # a classifier of bands or of a binary screen: the probabilities are the uncertainty
    out = {"scale": base, "band": str(pred["prediction"])}
    if "probabilities" in pred:
        out["probabilities"] = pred["probabilities"]
        out["probability_of_band"] = pred["probabilities"].get(str(pred["prediction"]))
    return out


def speaker_reference_shortfall(card: dict[str, Any], n_recordings: int) -> str | None:
    """Why a speaker-normalised model cannot score yet (None if it can, or is not one).

    Parameters
    ----------
    card : the model version
    n_recordings : recordings of the participant, this one included
    """
    from vocalmind.assess import MIN_REFERENCE_RECORDINGS

    if not card["info"].get("speaker_normalization") or n_recordings >= MIN_REFERENCE_RECORDINGS:
        return None
    return (f"this model compares each participant with their own recordings and needs at "
            f"least {MIN_REFERENCE_RECORDINGS} of them; the participant has {n_recordings} so "
            "far. The voice markers are shown now; assess this recording again with the model "
            "once there are enough recordings")


def compute_assessment(audio: str | Path, card: dict[str, Any], *,
                       reference: list[str] | None = None,
                       baseline: list[dict[str, float]] | None = None,
                       markers: bool = True,
                       max_duration_s: float | None = None) -> dict[str, Any]:
    """Assess one recording with a registered model.

    Parameters
    ----------
    audio : the stored recording
    card : the model version (as returned by :func:`model_card`)
    reference : the participant's other recordings (their speaker, for speaker-normalised
        models, see :func:`vocalmind.assess.assess`)
    baseline : marker values of the participant's earlier sessions (one dict per session)
    markers : also compute the clinical voice markers

    Returns
    -------
    dict
        JSON-ready: ``label, task, model, trained_on`` (a corpus name, never a path),
        ``synthetic`` (a demo model trained on synthetic speech), ``prediction``
        (+ ``probabilities``), or ``prediction: None`` with ``model_note`` saying in words
        why a speaker-normalised model cannot score yet, or why the model abstained
        ("insufficient quality: ..."); ``warnings``: sentences on how the recording
        differs from the model's training data (lower sample rate, narrower bandwidth,
        much shorter or longer; the recipe's ``domain_warnings``, as ``vocalmind assess``
        prints them), empty when it does not; ``clinical`` (scale, score/band,
        interval or band probability) or None; ``markers`` {name: {label, unit, value,
        baseline, z}} or None (``markers_error`` says why); and ``disclaimer``.

    Raises
    ------
    ModelError
        A model file changed since registration, or the model cannot be applied.
    AudioError, FeatureError
        The recording cannot be read or gives no usable features.
    """
    from vocalmind.assess import assess

    verify_model_files(card)
    run_dir = Path(card["path"])
    reference = list(reference or [])
    result: dict[str, Any] = {"label": card["label"], "task": card["task"],
                              "model": card["model"], "trained_on": public_corpus(card["corpus"]),
                              "synthetic": bool(card["info"].get("synthetic"))}
    note = speaker_reference_shortfall(card, 1 + len(reference))
    result["warnings"] = []
    if note is None:
        pred = assess([audio], run_dir,
                      reference=reference if card["info"].get("speaker_normalization")
                      else None)[0]
        # how this recording differs from the model's training data (sample rate,
        # bandwidth, duration): the answer may shift; numbers only, never a path
        result["warnings"] = [str(w) for w in pred.get("warnings") or []]
        if pred.get("abstained") or pred.get("prediction") is None:
            # the model's own quality gates abstained: say why, keep the markers
            result.update(prediction=None, clinical=None,
                          model_note=str(pred.get("reason") or "the model abstained"))
        else:
            result.update({k: pred[k] for k in ("prediction", "probabilities") if k in pred})
            result["clinical"] = _clinical_summary(pred, card)
    else:
        result.update(prediction=None, model_note=note, clinical=None)
    result["markers"] = None
    if markers:
        try:
            values = voice_markers(audio, max_duration_s=max_duration_s)
        except FeatureError as e:
            result["markers_error"] = str(e).replace(str(audio), "recording")
        else:
            base = baseline_stats(baseline or [])
            out = {}
            for name, v in values.items():
                _, label, unit, _ = MARKERS[name]
                b = base.get(name)
                z = None
                if b and b["sd"]:
                    z = _finite((v - b["mean"]) / b["sd"])
                out[name] = {"label": label, "unit": unit, "value": v, "baseline": b, "z": z}
            result["markers"] = out
    result["disclaimer"] = DISCLAIMER
    return result
