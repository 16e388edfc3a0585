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
from vocalmind.experiment import DISCLAIMER

__all__ = ["MARKERS", "baseline_stats", "compute_assessment", "model_card", "voice_markers"]

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


def model_card(run_dir: str | Path) -> dict[str, Any]:
    """What the service records about a run folder when it is registered.

    Returns
    -------
    dict
        ``path`` (resolved), ``model_sha256`` (of ``model/model.json``), ``task``, ``label``,
        ``model``, ``corpus`` and ``info``: classes, feature set, headline metrics, and for
        a regression on a clinical scale the quantiles of the out-of-fold residuals (for the
        score interval).

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
        "speaker_normalization": bool((info.get("features") or {}).get("speaker_normalization")),
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
    return {"path": str(run_dir), "model_sha256": hashlib.sha256(raw).hexdigest(),
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
    reference : earlier recordings of the same participant (needed by speaker-normalised
        models, see :func:`vocalmind.assess.assess`)
    baseline : marker values of the participant's earlier sessions (one dict per session)
    markers : also compute the clinical voice markers

    Returns
    -------
    dict
        JSON-ready: ``label, task, model, trained_on, prediction`` (+ ``probabilities``),
        ``clinical`` (scale, score/band, interval or band probability) or None,
        ``markers`` {name: {label, unit, value, baseline, z}} or None (``markers_error``
        says why), and ``disclaimer``.

    Raises
    ------
    ModelError
        The run folder changed since it was registered, or the model cannot be applied.
    AudioError, FeatureError
        The recording cannot be read or gives no usable features.
    """
    from vocalmind.assess import assess

    run_dir = Path(card["path"])
    meta = run_dir / "model" / "model.json"
    if not meta.is_file() or hashlib.sha256(meta.read_bytes()).hexdigest() != card["model_sha256"]:
        raise ModelError(f"{run_dir}: the run folder changed or disappeared since it was "
                         "registered; register it again with `vocalmind serve --model DIR`")
    pred = assess([audio], run_dir,
                  reference=reference if card["info"].get("speaker_normalization") else None)[0]
    result: dict[str, Any] = {k: pred[k] for k in ("label", "task", "model", "trained_on",
                                                   "prediction", "probabilities") if k in pred}
    result["clinical"] = _clinical_summary(pred, card)
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
