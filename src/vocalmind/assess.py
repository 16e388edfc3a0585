"""Scoring new recordings with a trained run folder (``vocalmind assess``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import ModelError
from vocalmind.experiment import DEEP_FAMILIES, clip_to_scale
from vocalmind.runs import load_model

#: a speaker-normalised model needs this many recordings of the speaker to normalise on
MIN_REFERENCE_RECORDINGS = 3


def assess(paths: list[str | Path], run_dir: str | Path, *,
           reference: list[str | Path] | None = None) -> list[dict[str, Any]]:
    """Score recordings with the final model of a run folder.

    Parameters
    ----------
    paths : recordings to score (any format :func:`vocalmind.audio.load` reads)
    run_dir : a finished run folder made by ``vocalmind experiment run``
    reference : for models trained with per-speaker normalisation: further recordings of the
        same speaker; the speaker's statistics are computed over ``paths + reference``

    Returns
    -------
    list of dict
        Per recording: ``file``, ``label`` (the task), ``prediction`` and, for classifiers,
        ``probabilities`` {class: p}; clinical tasks add ``disclaimer``.

    Raises
    ------
    ModelError
        Not a run folder, or a speaker-normalised model given fewer than
        :data:`MIN_REFERENCE_RECORDINGS` recordings of the speaker.
    AudioError, FeatureError
        A recording cannot be read or gives no usable features.
    """
    est, info = load_model(run_dir)
    files = [str(Path(p).resolve()) for p in paths]
    refs = [str(Path(p).resolve()) for p in (reference or [])]
    rows = pd.DataFrame({"file": files + refs, "start": np.nan, "end": np.nan,
                         "subject": "assessed"})
    if info["model"] in DEEP_FAMILIES:
        X = rows.iloc[: len(files)]
    else:
        from vocalmind.features.base import get_feature_set
        from vocalmind.features.extract import extract_features

        fc = info["features"]
        result = extract_features(rows, get_feature_set(fc["set"], **fc["params"]),
                                  preprocess=fc["preprocess"], n_jobs=1, cache_dir=None,
                                  max_failure_fraction=0.0)
        X = result.features.reset_index(drop=True)
        if info["feature_names"] and list(X.columns) != info["feature_names"]:
            raise ModelError(f"{run_dir}: the model expects feature set {fc['set']!r} with "
                             f"{len(info['feature_names'])} features; extraction gave {X.shape[1]}")
        if fc["speaker_normalization"]:
            if len(rows) < MIN_REFERENCE_RECORDINGS:
                raise ModelError(
                    f"{run_dir}: this model was trained on per-speaker normalised features; "
                    f"give at least {MIN_REFERENCE_RECORDINGS} recordings of the speaker "
                    f"(pass more files or --reference FILE), got {len(rows)}")
            from vocalmind.features.normalize import normalize_per_speaker

            X = normalize_per_speaker(X, rows["subject"].to_numpy())
        X = X.iloc[: len(files)]
    pred = clip_to_scale(est.predict(X), info["label"])
    proba = est.predict_proba(X) if info["task"] == "classification" and hasattr(
        est, "predict_proba") else None
    out = []
    for i, f in enumerate(files):
        r: dict[str, Any] = {"file": f, "label": info["label"], "task": info["task"],
                             "model": info["model"], "trained_on": info["corpus"]}
        if info["task"] == "classification":
            r["prediction"] = str(pred[i])
            if proba is not None:
                r["probabilities"] = {str(c): float(p) for c, p in zip(est.classes_, proba[i],
                                                                       strict=True)}
        else:
            r["prediction"] = float(pred[i])
        if info.get("disclaimer"):
            r["disclaimer"] = info["disclaimer"]
        out.append(r)
    return out
