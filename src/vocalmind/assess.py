"""Scoring new recordings with a trained run folder (``vocalmind assess``).

Inputs are built by the run folder's own :class:`~vocalmind.recipe.Recipe` (the one the
model was trained with): segmented models are scored on the same segments and their
predictions pooled back to the recording, speaker-normalised models are normalised over
one speaker's recordings at a time.

Every recording first gets a quality record; a recording that fails a quality gate gets no
prediction but ``"abstained": true`` and ``"reason": "insufficient quality: <reason>"``,
and a recording whose domain differs from the training data (sample rate, bandwidth,
duration) gets ``warnings``.

Speakers are explicit: a speaker-normalised model needs to know whose recordings are
whose (``speakers=`` one per path, or one name for all, or one recording per call); it
refuses to normalise recordings of different or unknown speakers together.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import ManifestError, ModelError, SpeakerError
from vocalmind.recipe import Recipe, clip_to_scale
from vocalmind.runs import load_model, model_dir_of

__all__ = ["assess", "read_speakers", "MIN_REFERENCE_RECORDINGS", "ABSTAIN_PREFIX"]

#: a speaker-normalised model needs this many recordings of the speaker to normalise on
MIN_REFERENCE_RECORDINGS = 3
#: how an abstention's reason starts
ABSTAIN_PREFIX = "insufficient quality: "
_UNNAMED = "(one speaker)"


def read_speakers(path: str | Path) -> dict[str, str]:
    """A speaker table: CSV/Parquet with ``file`` and ``speaker`` (or ``subject``) columns.

    Returns
    -------
    dict, resolved file path -> speaker

    Raises
    ------
    ManifestError
        Missing columns, a file listed twice with different speakers, empty speakers.
    """
    from vocalmind.files import read_table

    try:
        df = read_table(path)
    except (FileNotFoundError, ValueError, OSError) as e:
        raise ManifestError(f"{path}: cannot read the speaker table ({e})") from None
    col = "speaker" if "speaker" in df.columns else "subject"
    if "file" not in df.columns or col not in df.columns:
        raise ManifestError(f"{path}: a speaker table needs columns 'file' and 'speaker' "
                            f"(or 'subject'); it has {list(df.columns)}")
    if df[col].isna().any() or (df[col].astype(str).str.strip() == "").any():
        raise ManifestError(f"{path}: {int(df[col].isna().sum())} rows have no speaker")
    out: dict[str, str] = {}
    for f, s in zip(df["file"].astype(str), df[col].astype(str), strict=True):
        key = str(Path(f).resolve())
        if out.get(key, s) != s:
            raise ManifestError(f"{path}: {f} is listed with two speakers ({out[key]!r}, {s!r})")
        out[key] = s
    return out


def _speaker_list(files: list[str], refs: list[str],
                  speakers: str | Sequence[str | None] | dict[str, str] | None,
                  ) -> tuple[list[str | None], list[str | None]]:
    """Speaker of every path and of every reference (None = unknown)."""
    if speakers is None:
        # one recording (plus references) per call is one speaker
        one: str | None = _UNNAMED if len(files) == 1 else None
        return [one] * len(files), [one] * len(refs)
    if isinstance(speakers, str):
        return [speakers] * len(files), [speakers] * len(refs)
    if isinstance(speakers, dict):
        res = {str(Path(k).resolve()): v for k, v in speakers.items()}
        return [res.get(f) for f in files], [res.get(f, None) for f in refs]
    sp = list(speakers)
    if len(sp) == 1:
        return sp * len(files), sp * len(refs)
    if len(sp) != len(files):
        raise SpeakerError(f"{len(sp)} speakers given for {len(files)} recordings; give one "
                           "speaker per recording, or one for all")
    # references belong to the speaker of the recordings when there is only one
    named = {s for s in sp if s is not None}
    ref_speaker = next(iter(named)) if len(named) == 1 else None
    if refs and ref_speaker is None:
        raise SpeakerError("--reference recordings with several speakers: say whose they are "
                           "with a speaker table (file, speaker)")
    return sp, [ref_speaker] * len(refs)


def assess(paths: Sequence[str | Path], run_dir: str | Path, *,
           reference: Sequence[str | Path] | None = None,
           speakers: str | Sequence[str | None] | dict[str, str] | None = None,
           gates: dict[str, Any] | None = None,
           inputs_out: list[tuple[pd.DataFrame, pd.DataFrame]] | None = None,
           on_error: str = "raise",
           ) -> list[dict[str, Any]]:
    """Score recordings with the final model of a run folder.

    Parameters
    ----------
    paths : recordings to score (any format :func:`vocalmind.audio.load` reads)
    run_dir : a finished run folder made by ``vocalmind experiment run``
    reference : further recordings of the speaker(s), used only to compute a
        speaker-normalised model's per-speaker statistics (not scored)
    speakers : whose recordings these are: one name for all, one name per path, or a
        mapping path -> name (e.g. from :func:`read_speakers`). None means "one speaker per
        call": allowed for a single path (plus references); several paths without speakers
        are refused by a speaker-normalised model rather than pooled.
    gates : quality thresholds replacing the recipe's (``QualityGates`` fields)
    inputs_out : for audits and tests: a list that receives ``(X, rows)``, exactly the
        model inputs (and their manifest rows) the model was given
    on_error : ``"raise"`` (a recording that cannot be read or whose features cannot be
        computed raises) or ``"report"`` (it gets ``prediction: None`` and ``error``, its
        reason, and the other recordings are scored; the command line's choice)

    Returns
    -------
    list of dict, one per path in order
        ``file``, ``speaker``, ``label``, ``task``, ``model``, ``trained_on``, ``quality``
        (the quality record), ``warnings`` (domain differences) and either ``prediction``
        (+ ``probabilities`` {class: p} for classifiers, ``n_segments`` when segmented) or
        ``abstained: True`` with ``reason`` ``"insufficient quality: ..."`` and
        ``prediction: None``, or (``on_error="report"``) ``prediction: None`` with ``error``
        (why the recording could not be read or its features computed) and ``quality:
        None``; clinical tasks add ``disclaimer``.

    Raises
    ------
    ModelError, ModelIntegrityError
        Not a run folder, or a changed/broken model file (named).
    SpeakerError
        A speaker-normalised model with several recordings of unknown speakers, or a speaker
        with fewer than :data:`MIN_REFERENCE_RECORDINGS` usable recordings.
    AudioError
        A recording cannot be read at all (missing, empty, not audio), naming it
        (``on_error="raise"``).
    FeatureError
        A recording's features cannot be computed (``on_error="raise"``).
    """
    from vocalmind.audio.quality import QualityRecord, check

    if on_error not in ("raise", "report"):
        raise ModelError(f"on_error={on_error!r}: use 'raise' or 'report'")

    est, info = load_model(run_dir)
    recipe = Recipe.load(model_dir_of(run_dir))
    if gates:
        recipe.gates = {**recipe.gates, **gates}
    qgates = recipe.quality_gates()
    files = [str(Path(p).resolve()) for p in paths]
    refs = [str(Path(p).resolve()) for p in (reference or [])]
    if not files:
        return []
    spk_files, spk_refs = _speaker_list(files, refs, speakers)
    if recipe.speaker_normalization:
        unknown = [f for f, s in zip(files + refs, spk_files + spk_refs, strict=True) if s is None]
        if unknown:
            raise SpeakerError(
                f"{run_dir}: this model normalises features per speaker, and the speaker of "
                f"{len(unknown)} recording(s) is unknown (e.g. {unknown[0]}); it will not pool "
                "different people. Give --speaker NAME (one per file, or one for all), a "
                "speaker table, or assess one speaker per call")
    if info.get("feature_names") and recipe.feature_names is not None and \
            len(info["feature_names"]) != len(recipe.feature_names):
        raise ModelError(f"{run_dir}: the model also reads covariates "
                         f"{sorted(set(info['feature_names']) - set(recipe.feature_names))} "
                         "from the manifest; it cannot assess bare recordings")

    every = files + [r for r in refs if r not in files]
    who = dict(zip(files + refs, spk_files + spk_refs, strict=True))
    rows = pd.DataFrame({"file": every, "start": np.nan, "end": np.nan,
                         "subject": [who[f] or "?" for f in every]})
    quality = recipe.measure(rows)
    qrec: dict[str, Any] = {}
    reasons: dict[str, list[str]] = {}
    errors: dict[str, str] = {}  # unreadable recordings (on_error="report")
    for r in quality.to_dict("records"):
        if isinstance(r.get("quality_error"), str):
            if on_error == "raise":
                from vocalmind.errors import AudioError

                raise AudioError(r["file"], r["quality_error"])
            errors[r["file"]] = r["quality_error"]
            continue
        rec = QualityRecord.from_dict(r, "quality_")
        qrec[r["file"]] = rec
        reasons[r["file"]] = check(rec, qgates)
    usable = [f for f in every if f not in errors and not reasons[f]]
    ok_rows = rows[~rows["file"].isin(list(errors))]
    ok_quality = quality[~quality["file"].isin(list(errors))]
    X, seg = _model_inputs(recipe, ok_rows, ok_quality, usable, files, run_dir,
                           errors=None if on_error == "raise" else errors)
    if inputs_out is not None and X is not None:
        inputs_out.append((X, seg))
    out_pred: dict[str, dict[str, Any]] = {}
    if X is not None:
        pred = clip_to_scale(est.predict(X), info["label"])
        table = seg[["file", "start", "end", "subject"] + (
            ["recording"] if "recording" in seg.columns else [])].copy()
        table["y_true"] = None
        table["y_pred"] = pred
        classes = None
        if info["task"] == "classification" and hasattr(est, "predict_proba"):
            proba = est.predict_proba(X)
            classes = [str(c) for c in est.classes_]
            for j, c in enumerate(classes):
                table[f"proba_{c}"] = proba[:, j]
        n_seg = table.groupby("file").size()
        if recipe.segmentation.get("length_s"):
            table = recipe.aggregate(table.drop(columns=["recording"], errors="ignore"),
                                     task=info["task"])
        for r in table.to_dict("records"):
            p: dict[str, Any] = {}
            if info["task"] == "classification":
                p["prediction"] = str(r["y_pred"])
                if classes is not None:
                    p["probabilities"] = {c: float(r[f"proba_{c}"]) for c in classes}
            else:
                p["prediction"] = float(r["y_pred"])
            if recipe.segmentation.get("length_s"):
                p["n_segments"] = int(n_seg[r["file"]])
            out_pred[r["file"]] = p

    out = []
    for f, spk in zip(files, spk_files, strict=True):
        r: dict[str, Any] = {"file": f, "speaker": None if spk == _UNNAMED else spk,
                             "label": info["label"], "task": info["task"],
                             "model": info["model"], "trained_on": info["corpus"]}
        if f in errors or f not in out_pred and not reasons[f]:
            r["prediction"] = None
            r["error"] = errors.get(f, "no features")
            r["quality"] = qrec[f].as_dict() if f in qrec else None
            r["warnings"] = []
            out.append(r)
            continue
        rec = qrec[f]
        if reasons[f]:
            r["prediction"] = None
            r["abstained"] = True
            r["reason"] = ABSTAIN_PREFIX + "; ".join(reasons[f])
        else:
            r.update(out_pred[f])
        r["quality"] = rec.as_dict()
        r["warnings"] = recipe.domain_warnings(rec)
        if info.get("disclaimer"):
            r["disclaimer"] = info["disclaimer"]
        out.append(r)
    return out


def _model_inputs(recipe: Recipe, rows: pd.DataFrame, quality: pd.DataFrame,
                  usable: list[str], files: list[str], run_dir: str | Path, *,
                  errors: dict[str, str] | None = None,
                  ) -> tuple[pd.DataFrame | None, pd.DataFrame | None]:
    """The model's input rows for the usable recordings among ``files`` (by the recipe).

    ``errors``: None raises on the first recording whose features fail; a dict receives
    ``file -> reason`` for each such recording and the others are scored."""
    if not any(f in usable for f in files):
        return None, None
    urows = rows[rows["file"].isin(usable)].reset_index(drop=True)
    if recipe.speaker_normalization:
        counts = urows.groupby("subject")["file"].nunique()
        few = counts[counts < MIN_REFERENCE_RECORDINGS]
        if len(few):
            spk = few.index[0]
            raise SpeakerError(
                f"{run_dir}: this model was trained on per-speaker normalised inputs; "
                f"give at least {MIN_REFERENCE_RECORDINGS} usable recordings of each "
                f"speaker (pass more files or --reference FILE); speaker "
                f"{'of this call' if spk == _UNNAMED else repr(spk)} has {int(few.iloc[0])}")
    inputs = recipe.build(urows, quality=quality, screen=False, progress=False,
                          max_failure_fraction=1.0)
    if len(inputs.failures):
        if errors is None:
            from vocalmind.errors import FeatureError

            f0 = inputs.failures.iloc[0]
            raise FeatureError(f"{f0['file']}: {f0['reason']}")
        for f, reason in zip(inputs.failures["file"], inputs.failures["reason"], strict=True):
            errors[str(f)] = f"features could not be computed: {reason}"
    X, seg = inputs.X, inputs.rows
    if seg is None or not len(seg):
        return None, None
    if not recipe.deep:
        recipe.check_features(X, str(run_dir))
    score = seg["file"].isin(files).to_numpy()
    return X[score].reset_index(drop=True), seg[score].reset_index(drop=True)
