"""The run report: one self-contained HTML page (images embedded) plus the PNG files.

The page states the protocol (with what happened inside each training fold: nested tuning,
feature selection, per-speaker normalisation) and, unmistakably, whether it was
subject-independent; shows the headline metrics with their bootstrap intervals and a
baseline beside each, the baselines themselves, a screening view for clinical labels, the
per-class table with intervals, per-fold and per-speaker tables, captioned pictures,
caveats (few subjects, a constant predictor, speaker-dependent fold files, bands missing
from low-rate audio), provenance and the resolved configuration; and, for
depression/anxiety tasks, says that the numbers are research measurements, not diagnoses.
Everything it computes is computed from its inputs and the run folder, and also written
there as files (``baselines.json``, ``screening.json``, ``per_fold.csv``,
``per_subject.csv``, ``fold_subjects.json``, ``provenance.json``, ``band_limits.json``).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import html
import json
import os
import platform
import re
import shutil
from collections.abc import Iterator, Mapping
from importlib import metadata, resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np
import pandas as pd
import yaml
from matplotlib.figure import Figure

from vocalmind import __version__
from vocalmind.errors import ConfigError
from vocalmind.evaluation.metrics import (
    HEADLINE,
    constant_predictor_warning,
    majority_baseline,
    mean_baseline,
    screening_metrics,
)
from vocalmind.evaluation.plots import report_figures
from vocalmind.evaluation.protocols import PROTOCOLS, Protocol, make_protocol
from vocalmind.figures import figure_png
from vocalmind.files import atomic_path, write_json, write_table, write_text
from vocalmind.scales import CLINICAL_LABELS, NOT_A_DIAGNOSIS, SCALES, Scale

_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".svg": "image/svg+xml"}
_TEMPLATE = "report_template.html"


def _strings(obj: Any, keys: frozenset[str]) -> Iterator[str]:
    """Every string (or string in a list) stored under one of ``keys`` anywhere in ``obj``."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if k in keys:
                if isinstance(v, str):
                    yield v
                elif isinstance(v, list | tuple):
                    yield from (x for x in v if isinstance(x, str))
            yield from _strings(v, keys)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings(v, keys)


def is_clinical(config: Mapping[str, Any], metrics: Mapping[str, Any] | None = None) -> bool:
    """Whether the run predicts a depression/anxiety label (phq8, gad7_band, ...).

    The config layout is not fixed here, so any ``label``/``labels``/``target``/``task`` entry
    at any depth (and ``metrics["label"]``) is looked at.
    """
    keys = frozenset({"label", "labels", "target", "task"})
    found = set(_strings(config, keys)) | set(_strings(metrics or {}, frozenset({"label"})))
    return bool(found & CLINICAL_LABELS)


def _protocol_info(metrics: Mapping[str, Any]) -> tuple[str, bool | None]:
    """(description, subject_independent or None if unknown) of the run's protocol.

    Read from ``metrics["protocol"]`` (``Protocol.to_dict()``, a Protocol, a protocol name or a
    description) with ``metrics["protocol_description"]`` and ``metrics["subject_independent"]``
    taking precedence when present.
    """
    proto = metrics.get("protocol")
    if isinstance(proto, Protocol):
        proto = proto.to_dict()
    if isinstance(proto, str) and proto in PROTOCOLS and not metrics.get("protocol_description"):
        # a bare name: describe it with default parameters unless a description was stored
        try:
            proto = make_protocol(proto).to_dict()
        except ConfigError:  # a protocol without defaults (fold_file needs its path)
            pass
    info = proto if isinstance(proto, Mapping) else {}
    description = metrics.get("protocol_description") or info.get("description")
    if description is None:
        description = proto if isinstance(proto, str) else "Protocol not recorded."
    independent = metrics.get("subject_independent", info.get("subject_independent"))
    if independent is None and "speaker-dependent" in str(description).lower():
        independent = False
    return str(description), None if independent is None else bool(independent)


# --------------------------------------------------------------------------- run tables

#: Packages whose versions make a result reproducible (read from metadata, never imported).
PROVENANCE_PACKAGES = ("vocalmind", "opensmile", "scikit-learn", "torch", "numpy", "pandas",
                       "scipy")
#: Fewer subjects than this: intervals and "subject-independent" claims get a caveat.
FEW_SUBJECTS = 5


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def config_hash(config: Mapping[str, Any]) -> str:
    """SHA-256 of the resolved configuration as canonical JSON (sorted keys)."""
    text = json.dumps(_plain(dict(config)), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def corpus_fingerprint(files: Any) -> dict[str, Any]:
    """A fingerprint of the recordings a run used: SHA-256 over (name, size) of each file.

    File names without their folder and byte sizes are hashed, so the same corpus at another
    path gives the same fingerprint while a changed, added or missing file does not. Files
    that cannot be read count with size -1.

    Parameters
    ----------
    files : iterable of paths (duplicates are ignored)
    """
    digest = hashlib.sha256()
    unique = sorted({str(f) for f in files})
    missing = 0
    for f in sorted(unique, key=lambda x: (os.path.basename(x), x)):
        try:
            size = os.stat(f).st_size
        except OSError:
            size, missing = -1, missing + 1
        digest.update(f"{os.path.basename(f)}\t{size}\n".encode())
    return {"sha256": digest.hexdigest(), "n_files": len(unique), "n_unreadable": missing}


def provenance(
    config: Mapping[str, Any], metrics: Mapping[str, Any], predictions: pd.DataFrame | None
) -> dict[str, Any]:
    """What produced a run: package versions, date, run time, config hash, corpus fingerprint."""
    files = predictions["file"] if predictions is not None and "file" in predictions else []
    return {
        "versions": {p: _version(p) for p in PROVENANCE_PACKAGES},
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "written_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "run_time_s": metrics.get("wall_time_s"),
        "config_sha256": config_hash(config),
        "corpus": metrics.get("corpus"),
        "corpus_fingerprint": corpus_fingerprint(files),
    }


def _fold_column(predictions: pd.DataFrame) -> np.ndarray | None:
    if "fold" not in predictions:
        return None
    f = pd.to_numeric(predictions["fold"], errors="coerce").to_numpy()
    return None if np.isnan(f).any() else f.astype(np.int64)


def compute_baselines(metrics: Mapping[str, Any], predictions: pd.DataFrame | None) -> dict[str, Any]:
    """Baselines scored like the model: same units, folds, subjects and bootstrap.

    Classification: chance (uniform guessing, 1/K) and the majority class of each training
    side. Regression: the mean of the training side (for leave-one-subject-out: the mean of
    the other subjects), with the paired MAE difference. Empty without predictions.
    """
    task = metrics.get("task")
    if predictions is None or not {"y_true", "subject"} <= set(predictions.columns):
        return {}
    boot = metrics.get("bootstrap") or {}
    kw = {"n_boot": int(boot.get("n_boot", 1000)), "ci": float(boot.get("ci", 0.95)),
          "seed": int(boot.get("seed", 0))}
    groups = predictions["subject"].astype(str).to_numpy()
    folds = _fold_column(predictions)
    if task == "classification":
        b = majority_baseline(predictions["y_true"].astype(str).to_numpy(), groups=groups,
                              folds=folds, classes=metrics.get("classes"), **kw)
        b["per_metric"] = {"uar": b["majority"]["uar"], "accuracy": b["majority"]["accuracy"],
                           "macro_f1": b["majority"]["macro_f1"], "roc_auc": 0.5}
        return b
    if task == "regression":
        y_pred = predictions["y_pred"].astype(float).to_numpy() if "y_pred" in predictions else None
        b = {"mean_of_training_subjects": mean_baseline(
            predictions["y_true"].astype(float).to_numpy(), y_pred, groups=groups, folds=folds,
            **kw)}
        m = b["mean_of_training_subjects"]
        b["per_metric"] = {"mae": m["mae"], "rmse": m["rmse"], "pearson_r": 0.0, "ccc": 0.0,
                           "spearman_r": 0.0}
        return b
    return {}


def _primary_label(metrics: Mapping[str, Any], config: Mapping[str, Any]) -> str | None:
    """The run's (primary) label: ``metrics["label"]`` or the config's ``task.label``."""
    if metrics.get("label"):
        return str(metrics["label"])
    task = config.get("task")
    label = task.get("label") if isinstance(task, Mapping) else None
    if isinstance(label, list | tuple):
        label = label[0] if label else None
    return None if label is None else str(label)


def _screen_scale(label: str) -> tuple[Scale, str] | None:
    """The scale behind a clinical label and the label's kind (score, band, binary)."""
    for name, scale in SCALES.items():
        if label == name:
            return scale, "score"
        if label == f"{name}_band":
            return scale, "band"
        if label == f"{name}_binary":
            return scale, "binary"
    return None


def _positive(values: pd.Series, scale: Scale, kind: str) -> np.ndarray:
    """Whether each value is at or above the scale's screening cut-off."""
    if kind == "score":
        return values.astype(float).to_numpy() >= scale.positive_at
    if kind == "binary":
        return values.astype(str).isin(["1", "1.0", "True", "true"]).to_numpy()
    cut_band = scale.band(scale.positive_at)
    order = {b: i for i, b in enumerate(scale.bands)}
    first = order[cut_band]
    return np.array([order.get(str(v), -1) >= first for v in values])


def compute_screening(metrics: Mapping[str, Any], predictions: pd.DataFrame | None, *,
                      label: str | None = None) -> dict[str, Any]:
    """Screening view of a clinical label at its published cut-off (PHQ-9 >= 10, GAD-7 >= 10,
    HAMD >= 8, SDS >= 53): sensitivity, specificity, PPV, NPV, positive-class F1 with
    subject-bootstrap intervals. Empty for other labels."""
    found = _screen_scale(str(label or metrics.get("label", "")))
    if found is None or predictions is None or not {"y_true", "y_pred"} <= set(predictions):
        return {}
    scale, kind = found
    boot = metrics.get("bootstrap") or {}
    groups = predictions["subject"].astype(str).to_numpy() if "subject" in predictions else None
    s = screening_metrics(_positive(predictions["y_true"], scale, kind),
                          _positive(predictions["y_pred"], scale, kind), groups=groups,
                          n_boot=int(boot.get("n_boot", 1000)), ci=float(boot.get("ci", 0.95)),
                          seed=int(boot.get("seed", 0)))
    s["scale"] = scale.name
    s["cutoff"] = scale.positive_at
    s["rule"] = (f"{scale.name.upper()} >= {scale.positive_at:g}" if kind != "band" else
                 f"{scale.name.upper()} band {scale.band(scale.positive_at)} or above "
                 f"(score >= {scale.positive_at:g})")
    return s


def per_fold_table(metrics: Mapping[str, Any], predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per outer fold: units, test subjects, the fold's own scores, tuned parameters.

    A fold's scores are its test units only; with one unit per fold (``loo_subjects``)
    they describe one person, not the model, and are left out.
    """
    folds = _fold_column(predictions)
    if folds is None:
        return pd.DataFrame()
    task = metrics.get("task")
    tuned = {int(t["fold"]): {k: v for k, v in t.items() if k != "fold"}
             for t in metrics.get("tuned_params_per_fold") or [] if "fold" in t}
    rows = []
    for k in np.unique(folds):
        part = predictions[folds == k]
        subjects = sorted(part["subject"].astype(str).unique()) if "subject" in part else []
        row: dict[str, Any] = {"fold": int(k), "units": len(part), "subjects": len(subjects),
                               "test_subjects": " ".join(subjects)}
        if len(part) > 1:
            if task == "classification":
                yt, yp = part["y_true"].astype(str), part["y_pred"].astype(str)
                row["accuracy"] = float((yt == yp).mean())
                recalls = [float((yp[yt == c] == c).mean()) for c in sorted(yt.unique())]
                row["uar"] = float(np.mean(recalls))
            elif task == "regression":
                yt, yp = part["y_true"].astype(float), part["y_pred"].astype(float)
                row["mae"] = float((yt - yp).abs().mean())
        if k in tuned:
            row["tuned"] = json.dumps(tuned[int(k)], sort_keys=True, default=str)
        rows.append(row)
    return pd.DataFrame(rows)


def per_subject_table(metrics: Mapping[str, Any], predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per subject: its fold, units and how well it was predicted."""
    if "subject" not in predictions:
        return pd.DataFrame()
    rows = []
    folds = _fold_column(predictions)
    for subj, idx in predictions.groupby(predictions["subject"].astype(str)).groups.items():
        part = predictions.loc[idx]
        row: dict[str, Any] = {"subject": subj, "units": len(part)}
        if folds is not None:
            row["fold"] = " ".join(str(f) for f in sorted(set(folds[predictions.index.get_indexer(idx)])))
        if metrics.get("task") == "classification":
            row["accuracy"] = float((part["y_true"].astype(str) == part["y_pred"].astype(str)).mean())
            row["most_predicted"] = str(part["y_pred"].astype(str).mode().iloc[0])
        else:
            yt, yp = part["y_true"].astype(float), part["y_pred"].astype(float)
            row.update({"mean_true": float(yt.mean()), "mean_predicted": float(yp.mean()),
                        "mae": float((yt - yp).abs().mean())})
        rows.append(row)
    return pd.DataFrame(rows)


def fold_subjects(metrics: Mapping[str, Any], predictions: pd.DataFrame) -> dict[str, Any]:
    """Speakers of each fold: tested, and trained on (as far as the scored units tell).

    ``metrics["fold_subjects"]`` (``[{"fold", "train", "test"}]``), when the runner records
    it, is used as is. Otherwise the training speakers of a fold are the speakers scored in
    the other folds, which is exact for protocols that test every speaker once (loso,
    group_kfold); for a single held-out fold the training speakers are not in the
    predictions and are listed as unknown.
    """
    if metrics.get("fold_subjects"):
        return {"source": "runner", "folds": _plain(metrics["fold_subjects"])}
    folds = _fold_column(predictions)
    if folds is None or "subject" not in predictions:
        return {}
    subj = predictions["subject"].astype(str).to_numpy()
    everyone = set(subj)
    out = []
    for k in np.unique(folds):
        test = set(subj[folds == k])
        train = sorted(everyone - test) if len(np.unique(folds)) > 1 else None
        out.append({"fold": int(k), "test": sorted(test), "train": train})
    return {"source": "predictions (training speakers = speakers tested in the other folds)",
            "folds": out}


def _independence_banner(independent: bool | None) -> str:
    if independent is True:
        return (
            '<div class="banner independent" id="independence">Subject-independent: '
            "no speaker appears in both training and test data.</div>"
        )
    if independent is False:
        return (
            '<div class="banner dependent" id="independence">&#9888; SPEAKER-DEPENDENT '
            "evaluation: the same speakers appear in training and test "
            "data, so these scores are inflated by speaker identity and are not comparable "
            "with subject-independent results.</div>"
        )
    return (
        '<div class="banner unknown" id="independence">Subject independence was not '
        "recorded for this run; treat the scores as possibly speaker-dependent.</div>"
    )


def _fmt(x: Any) -> str:
    if x is None:
        return "&ndash;"
    if isinstance(x, float):
        return f"{x:.3f}"
    return html.escape(str(x))


def _ci_text(ci: Any) -> str:
    return "&ndash;" if not ci else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def _headline_table(metrics: Mapping[str, Any], baselines: Mapping[str, Any] | None = None) -> str:
    names = HEADLINE.get(str(metrics.get("task")), [])
    skipped = (metrics.get("bootstrap") or {}).get("skipped", {})
    per_metric = (baselines or {}).get("per_metric", {})
    rows = []
    for name in names:
        if name not in metrics:
            continue
        rows.append(
            f"<tr><td>{name}</td><td>{_fmt(metrics[name])}</td>"
            f"<td>{_ci_text(metrics.get(f'{name}_ci'))}</td>"
            f"<td>{_fmt(per_metric.get(name))}</td>"
            f"<td>{int(skipped.get(name, 0))}</td></tr>"
        )
    return (
        '<table id="headline"><thead><tr><th>metric</th><th>value</th><th>CI</th>'
        "<th>baseline</th><th>skipped resamples</th></tr></thead><tbody>" + "".join(rows)
        + "</tbody></table>"
    )


def _baseline_section(metrics: Mapping[str, Any], baselines: Mapping[str, Any]) -> str:
    """The baselines table: what a model that learnt nothing would score, same protocol."""
    if not baselines:
        return ""
    if "majority" in baselines:
        mj, ch = baselines["majority"], baselines["chance"]
        rows = [
            ("chance level (uniform guessing)", f"UAR {ch['uar']:.3f}, accuracy "
             f"{ch['accuracy']:.3f}, ROC AUC 0.500", "&ndash;"),
            (f"majority class of the training side ({html.escape(mj['class'])})",
             f"UAR {mj['uar']:.3f}, accuracy {mj['accuracy']:.3f}, macro-F1 {mj['macro_f1']:.3f}",
             f"UAR {_ci_text(mj['uar_ci'])}, accuracy {_ci_text(mj['accuracy_ci'])}"),
        ]
        note = ("The majority class is taken from the training side of each fold (a single "
                "held-out set: from the other tested subjects), so it never sees the tested "
                "subject.")
    else:
        fl = baselines["mean_of_training_subjects"]
        rows = [("mean of the training subjects' scores",
                 f"MAE {fl['mae']:.3f}, RMSE {fl['rmse']:.3f}",
                 f"MAE {_ci_text(fl['mae_ci'])}, RMSE {_ci_text(fl['rmse_ci'])}")]
        if fl.get("mae_difference") is not None:
            rows.append(("model MAE minus baseline MAE (negative: the model is better)",
                         f"{fl['mae_difference']:+.3f}", _ci_text(fl.get("mae_difference_ci"))))
        note = ("Each tested subject is predicted with the mean score of the subjects its fold "
                "was trained on (leave-one-subject-out, or a single held-out set: the mean of "
                "all other subjects). A "
                "model has learnt something only where its MAE is below this floor; the "
                "difference interval uses the same subject resamples.")
    body = "".join(f"<tr><td>{a}</td><td>{b}</td><td>{c}</td></tr>" for a, b, c in rows)
    return ('<h2>Baselines</h2><table id="baselines"><thead><tr><th>baseline</th><th>value</th>'
            f"<th>CI</th></tr></thead><tbody>{body}</tbody></table>"
            f'<p class="muted">{html.escape(note)}</p>')


def _per_class_section(metrics: Mapping[str, Any]) -> str:
    per_class = metrics.get("per_class")
    if not per_class:
        return ""

    def cell(v: Mapping[str, Any], key: str) -> str:
        ci = v.get(f"{key}_ci")
        return f"<td>{_fmt(v[key])}" + (f" <span class=\"ci\">{_ci_text(ci)}</span>" if ci else "") + "</td>"

    rows = "".join(
        f"<tr><td>{html.escape(str(c))}</td>{cell(v, 'precision')}{cell(v, 'recall')}"
        f"{cell(v, 'f1')}<td>{int(v['support'])}</td></tr>"
        for c, v in per_class.items()
    )
    return (
        '<h2>Per class</h2><table id="per-class"><thead><tr><th>class</th><th>precision [CI]</th>'
        "<th>recall [CI]</th><th>F1 [CI]</th><th>support</th></tr></thead><tbody>" + rows
        + "</tbody></table>" + _positive_section(metrics) + _repeats_section(metrics)
    )


def _positive_section(metrics: Mapping[str, Any]) -> str:
    """The positive class of a binary task: F1, sensitivity, specificity, PPV with CIs."""
    pos = metrics.get("positive")
    if not isinstance(pos, Mapping):
        return ""
    rows = "".join(
        f"<tr><td>{label}</td><td>{_fmt(pos.get(key))}</td>"
        f"<td>{_ci_text(pos.get(f'{key}_ci'))}</td></tr>"
        for key, label in (("f1", "F1"), ("sensitivity", "sensitivity (recall)"),
                           ("specificity", f"specificity (recall of {pos.get('negative_class')})"),
                           ("ppv", "positive predictive value (precision)")))
    return (f'<h2>Positive class: {html.escape(str(pos.get("class")))}</h2>'
            '<table id="positive-class"><thead><tr><th>measure</th><th>value</th>'
            f"<th>CI</th></tr></thead><tbody>{rows}</tbody></table>")


def _repeats_section(metrics: Mapping[str, Any]) -> str:
    """Each repeat's point values when a seeded protocol was repeated and pooled."""
    reps = metrics.get("per_repeat")
    if not reps:
        return ""
    keys = [k for k in reps[0] if k not in ("repeat", "seed")]
    head = "".join(f"<th>{html.escape(k)}</th>" for k in keys)
    rows = "".join(
        f"<tr><td>{r['repeat']}</td><td>{r['seed']}</td>"
        + "".join(f"<td>{_fmt(r.get(k))}</td>" for k in keys) + "</tr>" for r in reps)
    return (f"<h2>Repeats ({len(reps)}, pooled above)</h2><table id=\"repeats\"><thead><tr>"
            f"<th>repeat</th><th>protocol seed</th>{head}</tr></thead><tbody>{rows}"
            "</tbody></table>")


def _screening_section(screening: Mapping[str, Any]) -> str:
    if not screening:
        return ""
    rows = "".join(
        f"<tr><td>{label}</td><td>{_fmt(screening[key])}</td>"
        f"<td>{_ci_text(screening.get(f'{key}_ci'))}</td></tr>"
        for key, label in (("sensitivity", "sensitivity"), ("specificity", "specificity"),
                           ("ppv", "positive predictive value (PPV)"),
                           ("npv", "negative predictive value (NPV)"),
                           ("f1_positive", "F1 of the positive class"))
    )
    counts = (f"{screening['tp']} true positives, {screening['fp']} false positives, "
              f"{screening['tn']} true negatives, {screening['fn']} false negatives; "
              f"prevalence {screening['prevalence']:.1%} of {screening['n']} units")
    return (
        f'<h2>Screening view: {html.escape(screening["rule"])}</h2>'
        '<table id="screening"><thead><tr><th>measure</th><th>value</th><th>CI</th></tr>'
        f"</thead><tbody>{rows}</tbody></table>"
        f'<p class="muted">Positive = {html.escape(screening["rule"])} on the questionnaire '
        f"(true) and in the model's prediction. {html.escape(counts)}. PPV and NPV depend on "
        "the prevalence of this sample. Intervals resample subjects.</p>"
    )


def _html_table(df: pd.DataFrame, table_id: str, *, max_rows: int = 60) -> str:
    if df.empty:
        return ""
    shown = df.head(max_rows)
    head = "".join(f"<th>{html.escape(str(c).replace('_', ' '))}</th>" for c in shown.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_fmt(None if pd.isna(v) else v)}</td>" for v in row) + "</tr>"
        for row in shown.itertuples(index=False)
    )
    more = (f'<p class="muted">First {max_rows} of {len(df)} rows shown.</p>'
            if len(df) > max_rows else "")
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            f"</table>{more}")


def _folds_section(metrics: Mapping[str, Any], folds: pd.DataFrame, subjects: pd.DataFrame) -> str:
    if folds.empty and subjects.empty:
        return ""
    note = ("Each fold's own scores on its test units; the headline metrics pool every fold. "
            "The speakers of every fold are listed in fold_subjects.json, these tables in "
            "per_fold.csv and per_subject.csv.")
    if not folds.empty and not {"accuracy", "mae"} & set(folds.columns):
        note += " With one unit per fold, per-fold scores are not meaningful and are omitted."
    one_each = (not folds.empty and (folds["subjects"] == 1).all()
                and "fold" in subjects and "tuned" not in folds)
    if one_each:
        # every fold tests one speaker: the per-speaker table already is the per-fold table
        return ('<h2>Per fold and speaker</h2><p class="muted" id="per-fold">Each fold tests '
                f"one speaker ({len(folds)} folds); see the table below. "
                f"{html.escape(note)}</p>" + _html_table(subjects, "per-subject"))
    return ("<h2>Per fold</h2>" + _html_table(folds, "per-fold")
            + f'<p class="muted">{html.escape(note)}</p>'
            + "<h2>Per speaker</h2>" + _html_table(subjects, "per-subject"))


def _provenance_section(prov: Mapping[str, Any]) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in prov["versions"].items() if v)
    fp = prov["corpus_fingerprint"]
    run_time = prov.get("run_time_s")
    rows = [
        ("software", versions + f"; Python {prov['python']}"),
        ("platform", prov["platform"]),
        ("written (UTC)", prov["written_utc"]),
        ("run time", "&ndash;" if run_time is None else f"{float(run_time):.1f} s"),
        ("configuration SHA-256", prov["config_sha256"]),
        ("corpus", str(prov.get("corpus"))),
        ("corpus fingerprint (SHA-256 of file names and sizes)",
         f"{fp['sha256']} ({fp['n_files']} files"
         + (f", {fp['n_unreadable']} unreadable" if fp["n_unreadable"] else "") + ")"),
    ]
    body = "".join(f"<tr><td>{html.escape(a)}</td><td>{html.escape(b) if '&' not in b else b}"
                   "</td></tr>" for a, b in rows)
    return f'<h2>Provenance</h2><table id="provenance"><tbody>{body}</tbody></table>'


def _protocol_text(description: str, metrics: Mapping[str, Any], config: Mapping[str, Any]) -> str:
    """The protocol sentence plus what happened inside each training fold."""
    parts = [description]
    model = config.get("model") or {}
    tune, search = model.get("tune"), model.get("search")
    if isinstance(tune, Mapping) and tune.get("grid"):
        grid = ", ".join(f"{k} in {v}" for k, v in tune["grid"].items())
        parts.append(f"Hyperparameters ({grid}) were chosen inside each training fold by a "
                     f"subject-grouped inner {tune.get('inner_splits', 3)}-fold cross-validation "
                     "(nested tuning); the test subjects never took part.")
    if isinstance(search, Mapping) and search:
        parts.append(f"An ASHA search of {search.get('n_trials', '?')} trials ran inside each "
                     f"training fold on subject-grouped inner folds (nested tuning).")
    params = model.get("params") or {}
    if model.get("name") == "mlp" and isinstance(params, Mapping):
        parts.append(f"The network's architecture was searched inside each training fold "
                     f"({params.get('strategy', 'random')} search, {params.get('n_trials', '?')}"
                     f" trials, subject-grouped inner {params.get('cv', 3)}-fold CV).")
    selection = config.get("selection")
    if isinstance(selection, Mapping) and selection:
        covs = ", ".join(selection.get("covariates") or []) or "none"
        parts.append(f"Features were selected inside each training fold only (partial "
                     f"correlation with the label, p < {selection.get('alpha')}, covariates: "
                     f"{covs}).")
    norm = bool(metrics.get("speaker_normalization")) or bool(
        isinstance(params, Mapping) and (params.get("speaker_norm")
                                         or params.get("speaker_normalization")))
    if norm:
        parts.append("Inputs were standardised per speaker with statistics of that speaker's own "
                     "recordings (labels are not used, but every test speaker's recordings are "
                     "seen together).")
    level = metrics.get("level")
    if level:
        parts.append(f"Headline metrics are computed per {level}.")
    return " ".join(parts)


def band_limit_check(run_dir: Path) -> dict[str, Any]:
    """Recordings below 16 kHz and the model's features that read bands they do not have.

    Reads the run folder's ``quality.csv`` (native sampling rate of every input) and
    ``model/model.json`` (feature names); empty when either is missing or every recording
    has 16 kHz or more.
    """
    from vocalmind.analysis.bandwidth import band_limited_features

    try:
        quality = pd.read_csv(run_dir / "quality.csv", usecols=["file", "quality_native_sr"])
        names = json.loads((run_dir / "model" / "model.json").read_text()).get("feature_names")
    except (OSError, ValueError, KeyError):
        return {}
    rates = pd.to_numeric(quality.drop_duplicates("file")["quality_native_sr"], errors="coerce")
    low = rates[rates < 16_000]
    if low.empty or not names:
        return {}
    limited = band_limited_features(names, float(low.min()))
    return {"n_recordings_below_16khz": int(low.size),
            "sample_rates_hz": sorted({int(r) for r in low}),
            "features_above_nyquist": limited}


def _caveats(metrics: Mapping[str, Any], predictions: pd.DataFrame | None,
             independent: bool | None, band: Mapping[str, Any] | None = None) -> list[str]:
    """Warnings a reader must see next to the numbers."""
    out = []
    if band and band.get("features_above_nyquist"):
        rates = ", ".join(f"{r} Hz" for r in band["sample_rates_hz"])
        names = band["features_above_nyquist"]
        out.append(f"{band['n_recordings_below_16khz']} recording(s) were sampled at {rates} and "
                   f"upsampled: {len(names)} feature(s) read frequency bands those recordings do "
                   f"not have (e.g. {', '.join(names[:3])}); listed in band_limits.json.")
    n_subj = metrics.get("n_subjects")
    proto = str(metrics.get("protocol", ""))
    if isinstance(n_subj, int) and n_subj < FEW_SUBJECTS:
        text = (f"Only {n_subj} subjects: bootstrap intervals over {n_subj} subjects are too "
                "coarse to trust and the results say little about unseen speakers.")
        if n_subj == 2 and independent:
            text += (" With two speakers, every fold trains on ONE person and tests on the "
                     "other: subject-independent, but a single-speaker model.")
        out.append(text)
    task = str(metrics.get("task"))
    if predictions is not None and "y_pred" in predictions and task in (
            "classification", "regression"):
        n_classes = (predictions["y_true"].astype(str).nunique()
                     if "y_true" in predictions else None)
        constant = constant_predictor_warning(predictions["y_pred"].to_numpy(), task,
                                              n_classes=n_classes)
        if constant:
            out.append(constant)
    # warnings the run recorded in metrics.json (the same texts are not repeated)
    out += [str(w) for w in metrics.get("warnings") or [] if str(w) not in out]
    if "fold_file" in proto and independent is False:
        out.append("The fold file puts the same speakers in training and test folds "
                   "(speaker-dependent folds).")
    return out


def _bootstrap_note(metrics: Mapping[str, Any]) -> str:
    boot = metrics.get("bootstrap") or {}
    if not boot.get("n_boot"):
        return "No confidence intervals (no bootstrap)."
    unit = boot.get("unit", "subject")
    note = (
        f"{boot.get('ci', 0.95):.0%} percentile intervals from {boot['n_boot']} bootstrap "
        f"resamples of {unit}s (seed {boot.get('seed')}); resamples where a metric is undefined "
        "are skipped and counted."
    )
    if unit == "row":
        note += " Rows, not subjects, were resampled: intervals may be too narrow."
    return html.escape(note)


def _plain(obj: Any) -> Any:
    """A JSON/YAML-safe copy of ``obj`` (paths, numpy values ... become plain values)."""
    def default(o: Any) -> Any:
        return o.tolist() if hasattr(o, "tolist") else str(o)

    return json.loads(json.dumps(obj, default=default))


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._")
    if not safe:
        raise ConfigError(f"figure name {name!r} has no usable characters")
    return safe


def _check_extra_figure(name: str, fig: Figure | str | Path) -> str:
    """Check an extra figure; return its MIME type."""
    _safe_name(name)
    if isinstance(fig, Figure):
        return "image/png"
    path = Path(fig)
    mime = _IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ConfigError(
            f"extra figure {name!r}: {path} is not an image of type {sorted(_IMAGE_TYPES)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"extra figure {name!r}: {path} does not exist")
    return mime


def _image_bytes(name: str, fig: Figure | str | Path, fig_dir: Path) -> tuple[bytes, str]:
    """Render/read one figure, store it under ``fig_dir``; return (bytes, MIME type)."""
    safe = _safe_name(name)
    if isinstance(fig, Figure):
        data = figure_png(fig)
        with atomic_path(fig_dir / f"{safe}.png") as tmp:
            tmp.write_bytes(data)
        return data, "image/png"
    path = Path(fig)
    mime = _check_extra_figure(name, path)
    data = path.read_bytes()
    target = fig_dir / f"{safe}{path.suffix.lower()}"
    if path.resolve() != target.resolve():
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
    return data, mime


def write_report(
    run_dir: str | Path,
    *,
    metrics: Mapping[str, Any],
    predictions: pd.DataFrame | None,
    config: Mapping[str, Any],
    title: str,
    extra_figures: Mapping[str, Figure | str | Path] | None = None,
) -> Path:
    """Write ``run_dir/report.html`` (self-contained) and the figures as ``run_dir/figures/*.png``.

    Parameters
    ----------
    run_dir : run folder (created if missing)
    metrics : dict from :func:`classification_metrics`/:func:`regression_metrics`, plus
        ``"protocol"``: ``Protocol.to_dict()`` (or a Protocol, a protocol name, or a
        description string)
    predictions : table with ``y_true``, ``y_pred`` (and ``proba_<class>``) used for the ROC
        curves and regression pictures; None to skip those
    config : the resolved run configuration (shown as YAML; its task label decides the
        not-a-diagnosis notice)
    title : page title
    extra_figures : more pictures by name: matplotlib Figures or image files (.png, .jpg, .svg)

    Returns
    -------
    Path
        ``run_dir/report.html``, written atomically after the figures and the run tables
        (``provenance.json`` always; ``baselines.json``, ``screening.json``,
        ``per_fold.csv``, ``per_subject.csv``, ``fold_subjects.json`` and
        ``band_limits.json`` when they apply).

    Raises
    ------
    ConfigError
        An extra figure that is not an image, or a name with no usable characters.
    FileNotFoundError
        An extra figure file that does not exist.
    """
    run_dir = Path(run_dir)
    fig_dir = run_dir / "figures"
    for name, fig in (extra_figures or {}).items():
        _check_extra_figure(name, fig)  # fail before anything is drawn or written
    description, independent = _protocol_info(metrics)
    baselines = compute_baselines(metrics, predictions)
    screening = compute_screening(metrics, predictions, label=_primary_label(metrics, config))
    has_preds = predictions is not None and {"y_true", "y_pred"} <= set(predictions.columns)
    folds = per_fold_table(metrics, predictions) if has_preds else pd.DataFrame()
    subjects = per_subject_table(metrics, predictions) if has_preds else pd.DataFrame()
    prov = provenance(config, metrics, predictions)

    figures: dict[str, Figure | str | Path] = dict(
        report_figures(metrics, predictions, baselines=baselines.get("per_metric")))
    figures.update(extra_figures or {})
    blocks = []
    for name, fig in figures.items():
        data, mime = _image_bytes(name, fig, fig_dir)
        b64 = base64.b64encode(data).decode("ascii")
        caption = html.escape(figure_caption(name, metrics))
        blocks.append(
            f'<figure id="fig-{_safe_name(name)}"><img alt="{caption}" '
            f'src="data:{mime};base64,{b64}"><figcaption>{caption}</figcaption></figure>'
        )

    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / "provenance.json", prov)
    if baselines:
        write_json(run_dir / "baselines.json", baselines)
    if screening:
        write_json(run_dir / "screening.json", screening)
    if not folds.empty:
        write_table(folds, run_dir / "per_fold.csv")
    if not subjects.empty:
        write_table(subjects, run_dir / "per_subject.csv")
    speakers = fold_subjects(metrics, predictions) if has_preds else {}
    if speakers:
        write_json(run_dir / "fold_subjects.json", speakers)

    clinical = is_clinical(config, metrics)
    n_subj = metrics.get("n_subjects")
    counts = f"n = {metrics.get('n', '?')}" + ("" if n_subj is None else f", subjects = {n_subj}")
    band = band_limit_check(run_dir)
    if band:
        write_json(run_dir / "band_limits.json", band)
    caveats = _caveats(metrics, predictions, independent, band)
    page = Template(resources.files(__package__).joinpath(_TEMPLATE).read_text("utf-8"))
    text = page.substitute(
        version=html.escape(__version__),
        title=html.escape(title),
        task=html.escape(str(metrics.get("task", "unknown"))),
        counts=html.escape(counts),
        clinical_banner=(
            f'<div class="banner clinical" id="not-a-diagnosis">{NOT_A_DIAGNOSIS} These '
            "numbers describe a model on a research corpus; they must not be used to diagnose "
            "anyone.</div>"
            if clinical
            else ""
        ),
        caveats="".join(f'<div class="banner caveat">&#9888; {html.escape(c)}</div>'
                        for c in caveats),
        protocol=html.escape(_protocol_text(description, metrics, config)),
        independence_banner=_independence_banner(independent),
        headline_table=_headline_table(metrics, baselines),
        bootstrap_note=_bootstrap_note(metrics),
        baseline_section=_baseline_section(metrics, baselines),
        screening_section=_screening_section(screening),
        per_class_section=_per_class_section(metrics),
        folds_section=_folds_section(metrics, folds, subjects),
        figures="\n".join(blocks),
        provenance_section=_provenance_section(prov),
        config_yaml=html.escape(
            yaml.safe_dump(_plain(dict(config)), sort_keys=False, allow_unicode=True)
        ),
    )
    return write_text(run_dir / "report.html", text)


#: What each standard figure shows, in words (the report's captions).
_CAPTIONS = {
    "bootstrap_intervals": "Headline metrics (dots) with their subject-bootstrap confidence "
    "intervals (lines) and the baseline of each (grey diamonds); errors in the label's units "
    "and bounded scores are on separate axes.",
    "confusion_matrix": "Confusion matrix of the pooled out-of-fold predictions: counts (left) "
    "and each true class's row as proportions, i.e. recall (right).",
    "per_class": "Precision, recall and F1 of each class with subject-bootstrap intervals "
    "(whiskers).",
    "roc": "ROC curves of the pooled out-of-fold class probabilities (one-vs-rest for more than "
    "two classes), with the chance diagonal.",
    "predicted_vs_actual": "Each unit's out-of-fold predicted score against its actual score; "
    "the dashed line is a perfect prediction.",
    "errors": "Distribution of out-of-fold errors (predicted minus actual score).",
}


def figure_caption(name: str, metrics: Mapping[str, Any]) -> str:
    """A caption in words for a report figure (its name when nothing better is known)."""
    if name in _CAPTIONS:
        return _CAPTIONS[name]
    text = str(name).replace("_", " ")
    model = metrics.get("model")
    if "permutation importance of the evaluated" in text.lower():
        return (text + ": how much the held-out score drops when one feature is shuffled "
                "among the test subjects of an outer fold (scikit-learn "
                "permutation_importance on the model fitted on that fold's training "
                "subjects), averaged over folds; bars show the spread across folds. "
                "Correlated features share their importance, so a low bar does not mean "
                "the feature carries nothing.")
    if "importance" in text.lower() and "random-forest" in text.lower() and model not in (
            "rf", "rf_regressor"):
        text += (f": a random forest fitted on all data to describe which features carry the "
                 f"label; it is not the evaluated {model} model, whose own importances may "
                 "differ.")
    return text
