"""Metrics with subject-bootstrap confidence intervals.

Point values come from scikit-learn / SciPy. Their intervals come from a bootstrap over
**subjects**: each resample draws ``n_subjects`` subjects with replacement, every row of a
drawn subject comes along, and a subject drawn twice counts twice. Rows of one speaker are
not independent, so resampling rows would understate the uncertainty; with ``groups=None``
each row is its own unit (say so when reporting). Intervals are percentile intervals.

The bootstrap is vectorised: a resample is a vector of subject counts (one multinomial
draw), and every metric is computed from count-weighted sums for all resamples at once (the
confusion matrix, MAE, RMSE and the moments behind Pearson r and CCC as count-weighted sums
of per-subject tables; ROC AUC as a quadratic form over per-subject-pair Mann-Whitney counts,
O(n_boot * n_subjects**2); Spearman from weighted mid-ranks). On 2 busy cores, 1000
resamples of 500 rows from 50 subjects take about 0.1 s (binary, regression) to 0.2-0.5 s
(7 classes with one-vs-rest AUC); bootstrapping rows (500 units) makes the AUC part slower.

Degenerate resamples, where a metric is undefined, are skipped for that metric and counted
in ``result["bootstrap"]["skipped"][metric]``:

- UAR, macro-F1, ROC AUC: the resample's true labels hold a single class (multiclass AUC:
  any class is missing). Accuracy is never skipped.
- Pearson and Spearman r: true values or predictions constant within the resample;
  CCC: both constant and equal. MAE and RMSE are never skipped.

An interval is ``None`` when fewer than 2 resamples remain (or ``n_boot=0``), and a point
value is ``None`` where it is undefined; results hold only JSON-safe Python values.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    precision_recall_fscore_support,
    roc_auc_score,
    root_mean_squared_error,
)

from vocalmind.errors import ConfigError

#: The headline metrics of each task, in report order.
HEADLINE: dict[str, list[str]] = {
    "classification": ["uar", "accuracy", "macro_f1", "roc_auc"],
    "regression": ["mae", "rmse", "pearson_r", "ccc", "spearman_r"],
}


# --------------------------------------------------------------------------- helpers


def _check_common(n_boot: int, ci: float) -> None:
    if not isinstance(n_boot, int | np.integer) or n_boot < 0:
        raise ConfigError(f"n_boot must be an integer >= 0, got {n_boot!r}")
    if not 0 < ci < 1:
        raise ConfigError(f"ci must be in (0, 1), e.g. 0.95; got {ci!r}")


def _subject_index(groups: Any, n: int) -> tuple[np.ndarray, int]:
    """Map each row to a subject number 0..S-1 (rows are their own unit when groups is None)."""
    if groups is None:
        return np.arange(n), n
    g = np.asarray(groups)
    if len(g) != n:
        raise ConfigError(f"groups has {len(g)} entries but there are {n} predictions")
    if pd.isna(g).any():
        raise ConfigError("groups has missing subject ids; fill them in")
    _, idx = np.unique(g, return_inverse=True)
    return idx, int(idx.max()) + 1


def _subject_counts(n_subjects: int, n_boot: int, seed: int) -> np.ndarray:
    """How often each subject is drawn in each resample [shape=(n_boot, n_subjects)], float64.

    Drawing ``n_subjects`` subjects uniformly with replacement is one multinomial draw.
    """
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_subjects, np.full(n_subjects, 1.0 / n_subjects), size=n_boot).astype(
        np.float64
    )


def _interval(values: np.ndarray, ci: float) -> list[float] | None:
    """Percentile interval of the finite ``values``; None if fewer than 2 remain."""
    v = values[np.isfinite(values)]
    if v.size < 2:
        return None
    lo, hi = np.percentile(v, [50 * (1 - ci), 50 * (1 + ci)])
    return [float(lo), float(hi)]


def _native(x: Any) -> Any:
    """A numpy scalar as its Python value (for JSON)."""
    return x.item() if isinstance(x, np.generic) else x


def _finite_or_none(x: float | None) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


def _attach(
    out: dict[str, Any], name: str, point: float | None, boot: np.ndarray | None, ci: float
) -> int:
    """Store ``name`` and ``name_ci``; return how many resamples were skipped."""
    out[name] = _finite_or_none(point)
    if boot is None or out[name] is None:
        out[f"{name}_ci"] = None
        return 0 if boot is None else int(boot.size)
    out[f"{name}_ci"] = _interval(boot, ci)
    return int(np.count_nonzero(~np.isfinite(boot)))


# --------------------------------------------------------------------------- classification


def _scores_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, UAR and macro-F1 of a stack of confusion matrices.

    Parameters
    ----------
    cm : np.ndarray [shape=(B, K, K)]
        Weighted counts, rows = true class, columns = predicted class.

    Returns
    -------
    dict of np.ndarray [shape=(B,)]
        UAR (mean recall over the classes present in y_true, as
        :func:`~sklearn.metrics.balanced_accuracy_score`) and macro-F1 (over the classes in
        y_true or y_pred, as :func:`~sklearn.metrics.f1_score`); NaN where a resample holds a
        single true class.
    """
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        accuracy = tp.sum(axis=1) / cm.sum(axis=(1, 2))
        recall = np.where(support > 0, tp / support, np.nan)
        present = (support > 0) | (predicted > 0)
        f1 = np.where(present, 2 * tp / (support + predicted), np.nan)
        uar = np.nanmean(recall, axis=1)
        macro_f1 = np.nanmean(f1, axis=1)
    single = (support > 0).sum(axis=1) < 2
    uar[single] = np.nan
    macro_f1[single] = np.nan
    return {"accuracy": accuracy, "uar": uar, "macro_f1": macro_f1}


def _per_class_boot(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Per-class precision, recall and F1 of a stack of confusion matrices.

    Parameters
    ----------
    cm : np.ndarray [shape=(B, K, K)], rows = true class

    Returns
    -------
    dict of np.ndarray [shape=(B, K)]
        NaN where a resample has no row of the class (recall), no prediction of it
        (precision) or neither (F1); :func:`_interval` skips those.
    """
    tp = np.diagonal(cm, axis1=1, axis2=2)
    support = cm.sum(axis=2)
    predicted = cm.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {
            "precision": np.where(predicted > 0, tp / predicted, np.nan),
            "recall": np.where(support > 0, tp / support, np.nan),
            "f1": np.where(support + predicted > 0, 2 * tp / (support + predicted), np.nan),
        }


def _per_subject_table(subj: np.ndarray, column: np.ndarray, n_subjects: int, n_columns: int,
                       rows: np.ndarray | None = None) -> np.ndarray:
    """Row counts per (subject, column) [shape=(n_subjects, n_columns)], over ``rows`` only."""
    table = np.zeros((n_subjects, n_columns))
    if rows is None:
        np.add.at(table, (subj, column), 1.0)
    else:
        np.add.at(table, (subj[rows], column[rows]), 1.0)
    return table


def _weighted_auc(
    score: np.ndarray, positive: np.ndarray, subj: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """ROC AUC of ``score`` for ``positive`` in each subject resample.

    Equals :func:`sklearn.metrics.roc_auc_score` with ``sample_weight`` = the draw count of
    each row's subject (the weighted Mann-Whitney statistic, ties counted one half).

    Parameters
    ----------
    score : np.ndarray [shape=(n,)]
    positive : np.ndarray [shape=(n,)], bool
    subj : np.ndarray [shape=(n,)], int
        Subject number (0..S-1) of every row.
    counts : np.ndarray [shape=(B, S)]
        Draws of every subject in every resample.

    Returns
    -------
    np.ndarray [shape=(B,)]
        NaN where a resample has no positive or no negative row.
    """
    _, inv = np.unique(score, return_inverse=True)
    n_subj, m = counts.shape[1], int(inv.max()) + 1
    pos = _per_subject_table(subj, inv, n_subj, m, positive)
    neg = _per_subject_table(subj, inv, n_subj, m, ~positive)
    # pairs[s, t]: (positive row of s, negative row of t) pairs ranked right, ties one half.
    # A resample weights each such pair by counts[s] * counts[t], so the Mann-Whitney
    # numerator is the quadratic form counts @ pairs @ counts: O(B * S^2), no per-row work.
    pairs = pos @ (np.cumsum(neg, axis=1) - 0.5 * neg).T
    num = ((counts @ pairs) * counts).sum(axis=1)
    denom = (counts @ pos.sum(axis=1)) * (counts @ neg.sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(denom > 0, num / denom, np.nan)


def _auc_scores(
    y_idx: np.ndarray, scores: np.ndarray, n_classes: int, subj: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Binary AUC (scores = positive-class score, shape (n,)) or macro one-vs-rest AUC."""
    if n_classes == 2:
        return _weighted_auc(scores, y_idx == 1, subj, counts)
    per_class = [
        _weighted_auc(scores[:, k], y_idx == k, subj, counts) for k in range(n_classes)
    ]
    # a class missing from a resample makes its AUC NaN, and so the macro mean
    return np.mean(per_class, axis=0)


def _proba_scores(proba: Any, classes: list[Any], n: int) -> np.ndarray:
    """The score array used for AUC: positive-class column (binary) or all columns."""
    if isinstance(proba, pd.DataFrame):
        names = [str(c).removeprefix("proba_") for c in proba.columns]
        want = [str(c) for c in classes]
        if sorted(names) != sorted(want):
            raise ConfigError(f"proba columns {list(proba.columns)} do not match classes {classes}")
        p = proba.iloc[:, [names.index(c) for c in want]].to_numpy(dtype=np.float64)
    else:
        p = np.asarray(proba, dtype=np.float64)
    if p.shape[0] != n:
        raise ConfigError(f"proba has {p.shape[0]} rows but there are {n} predictions")
    if p.ndim == 1:
        if len(classes) != 2:
            raise ConfigError(
                f"1-D proba is only for binary tasks; got {len(classes)} classes: pass (n, K)"
            )
        return p
    if p.ndim != 2 or p.shape[1] != len(classes):
        raise ConfigError(
            f"proba has shape {p.shape} but there are {len(classes)} classes {classes}; "
            "pass classes= in the order of the proba columns"
        )
    if not np.isfinite(p).all():
        raise ConfigError("proba has NaN or infinite values")
    return p[:, 1] if len(classes) == 2 else p


def _resolve_classes(y_true: np.ndarray, y_pred: np.ndarray, classes: Any, proba: Any) -> list:
    if classes is None and isinstance(proba, pd.DataFrame):
        names = [str(c).removeprefix("proba_") for c in proba.columns]
        lookup = {str(v): _native(v) for v in np.concatenate([y_true, y_pred])}
        if all(nm in lookup for nm in names):
            classes = [lookup[nm] for nm in names]
    if classes is None:
        classes = np.unique(np.concatenate([y_true, y_pred])).tolist()
    classes = [_native(c) for c in classes]
    if len(set(classes)) != len(classes):
        raise ConfigError(f"classes has duplicates: {classes}")
    for name, arr in (("y_true", y_true), ("y_pred", y_pred)):
        extra = sorted({str(v) for v in np.unique(arr)} - {str(c) for c in classes})
        if extra:
            raise ConfigError(f"{name} has labels {extra} not in classes={classes}")
    return classes


def constant_predictor_warning(y_pred: Any, task: str, *, n_classes: int | None = None,
                               ) -> str | None:
    """A warning when every prediction is the same (a constant predictor), else None.

    Such a model's UAR is chance and its correlations undefined, whatever its intervals
    say; the run's metrics.json and report carry the warning (the same text).

    Parameters
    ----------
    y_pred : array-like [shape=(n,)] predicted labels (classification) or scores
    task : ``"classification"`` or ``"regression"``
    n_classes : classes in the task (classification); one class only is no warning

    Examples
    --------
    >>> constant_predictor_warning(["a", "a", "a"], "classification", n_classes=2)[:50]
    'The model predicted the same class (a) for all 3 u'
    """
    yp = np.asarray(y_pred)
    if yp.size < 2:
        return None
    if task == "classification":
        values = pd.unique(yp.astype(str))
        if len(values) == 1 and (n_classes is None or n_classes > 1):
            return (f"The model predicted the same class ({values[0]}) for all {yp.size} "
                    "units: a constant predictor; its UAR equals chance (for a class-weighted model on "
                    "imbalanced labels, check the class balance per fold and that per-speaker "
                    "normalisation did not remove the signal).")
        return None
    scores = pd.to_numeric(pd.Series(yp), errors="coerce").to_numpy(dtype=float)
    if np.isfinite(scores).all() and np.ptp(scores) <= 1e-12 * max(1.0, abs(scores[0])):
        return (f"The model predicted the same score ({scores[0]:.4g}) for all {yp.size} "
                "units: a constant predictor; correlations are undefined and errors equal a constant "
                "guess.")
    return None


#: label values read as "the positive class" of a binary task when none is configured
_POSITIVE_NAMES = ("1", "1.0", "true", "yes", "positive", "depressed", "anxious")


def positive_class(classes: Any, configured: str | None = None) -> str | None:
    """The positive class of a binary task: ``configured``, else a label that reads as
    positive (1, true, yes, positive, depressed, anxious), else None.

    Raises
    ------
    ConfigError
        ``configured`` is not one of ``classes``, or the task is not binary.

    Examples
    --------
    >>> positive_class(["0", "1"]), positive_class(["neg", "pos"]), positive_class(["a", "b"], "b")
    ('1', None, 'b')
    """
    cls = [str(c) for c in classes]
    if configured is not None:
        if len(cls) != 2:
            raise ConfigError(f"evaluation.positive_class needs a binary task; this one has "
                              f"{len(cls)} classes {cls}")
        if str(configured) not in cls:
            raise ConfigError(f"evaluation.positive_class {configured!r} is not a class; "
                              f"classes are {cls}")
        return str(configured)
    if len(cls) != 2:
        return None
    found = [c for c in cls if c.strip().lower() in _POSITIVE_NAMES]
    return found[0] if len(found) == 1 else None


def positive_class_metrics(m: dict[str, Any], positive: str) -> dict[str, Any]:
    """The positive class's view of binary :func:`classification_metrics` output ``m``:
    ``f1``, ``sensitivity`` (its recall), ``specificity`` (the other class's recall) and
    ``ppv`` (its precision), each with ``<name>_ci`` from the same subject bootstrap.

    Examples
    --------
    >>> m = classification_metrics(["0", "0", "1", "1"], ["0", "1", "1", "1"], n_boot=0)
    >>> positive_class_metrics(m, "1")["specificity"]
    0.5
    """
    per = m["per_class"]
    negative = next(c for c in per if c != positive)
    pos, neg = per[positive], per[negative]
    return {
        "class": positive, "negative_class": negative, "support": pos["support"],
        "f1": pos["f1"], "f1_ci": pos.get("f1_ci"),
        "sensitivity": pos["recall"], "sensitivity_ci": pos.get("recall_ci"),
        "specificity": neg["recall"], "specificity_ci": neg.get("recall_ci"),
        "ppv": pos["precision"], "ppv_ci": pos.get("precision_ci"),
    }


def classification_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    proba: Any = None,
    classes: Any = None,
    groups: Any = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Classification metrics with subject-bootstrap confidence intervals.

    Parameters
    ----------
    y_true, y_pred : array-like [shape=(n,)]
        True and predicted class labels (no missing values).
    proba : array-like [shape=(n, K)] or [shape=(n,)] or DataFrame, optional
        Class probabilities/scores, columns in the order of ``classes`` (a DataFrame's
        ``proba_<class>`` or ``<class>`` columns are matched by name). For a binary task a
        1-D array is the score of the positive class, ``classes[1]``.
    classes : sequence, optional
        All class labels, in order; default: sorted union of ``y_true`` and ``y_pred``.
    groups : array-like [shape=(n,)], optional
        Subject of every row: the bootstrap unit. ``None`` bootstraps rows.
    n_boot : number of bootstrap resamples (0: no intervals)
    ci : interval coverage, e.g. 0.95
    seed : bootstrap random seed

    Returns
    -------
    dict
        ``uar``, ``accuracy``, ``macro_f1``, ``roc_auc`` (None without ``proba`` or where
        undefined), each with ``<name>_ci = [lo, hi]`` or None; ``per_class`` {str(class):
        {precision, recall, f1, support}}; ``confusion_matrix`` (list of lists, rows = true);
        ``classes``; ``n``; ``n_subjects`` (None without groups); ``task``; ``bootstrap``
        {n_boot, ci, seed, unit, skipped: {metric: count}}; ``warnings`` (list of str: a
        constant predictor, see :func:`constant_predictor_warning`).

    Raises
    ------
    ConfigError
        Mismatched lengths, missing values, labels outside ``classes``, bad ``proba`` shape.

    Examples
    --------
    >>> m = classification_metrics(["a", "b", "b", "a"], ["a", "b", "a", "a"], n_boot=0)
    >>> m["uar"], m["accuracy"]
    (0.75, 0.75)
    """
    _check_common(n_boot, ci)
    yt = np.asarray(y_true)
    yp = np.asarray(y_pred)
    if yt.ndim != 1 or yt.shape != yp.shape or yt.size == 0:
        raise ConfigError(
            f"y_true and y_pred must be 1-D, non-empty and equally long; got {yt.shape}, {yp.shape}"
        )
    if pd.isna(yt).any() or pd.isna(yp).any():
        raise ConfigError("y_true/y_pred have missing values; drop unlabelled rows first")
    n = yt.size
    cls = _resolve_classes(yt, yp, classes, proba)
    lookup = {str(c): i for i, c in enumerate(cls)}
    ti = np.array([lookup[str(v)] for v in yt])
    pi = np.array([lookup[str(v)] for v in yp])
    k = len(cls)
    subj, n_subj = _subject_index(groups, n)

    out: dict[str, Any] = {"task": "classification"}
    with warnings.catch_warnings():
        # "y_pred contains classes not in y_true": UAR is then the mean over true classes,
        # as documented; not worth a warning per call
        warnings.simplefilter("ignore", UserWarning)
        uar = balanced_accuracy_score(ti, pi)
    points = {
        "uar": uar,
        "accuracy": accuracy_score(ti, pi),
        "macro_f1": f1_score(ti, pi, average="macro", zero_division=0),
    }
    scores = None if proba is None else _proba_scores(proba, cls, n)
    points["roc_auc"] = None if scores is None else _point_auc(ti, scores, k)

    boot: dict[str, np.ndarray | None] = dict.fromkeys(points)
    if n_boot > 0:
        counts = _subject_counts(n_subj, n_boot, seed)
        per_subject = _per_subject_table(subj, ti * k + pi, n_subj, k * k)
        cm = (counts @ per_subject).reshape(n_boot, k, k)
        boot.update(_scores_from_confusion(cm))
        if scores is not None and points["roc_auc"] is not None:
            boot["roc_auc"] = _auc_scores(ti, scores, k, subj, counts)
    skipped = {name: _attach(out, name, points[name], boot[name], ci) for name in points}

    prec, rec, f1, sup = precision_recall_fscore_support(
        ti, pi, labels=np.arange(k), zero_division=0
    )
    out["per_class"] = {
        str(c): {
            "precision": float(prec[i]),
            "recall": float(rec[i]),
            "f1": float(f1[i]),
            "support": int(sup[i]),
        }
        for i, c in enumerate(cls)
    }
    if n_boot > 0:
        for name, values in _per_class_boot(cm).items():
            for i, c in enumerate(cls):
                out["per_class"][str(c)][f"{name}_ci"] = _interval(values[:, i], ci)
    out["confusion_matrix"] = confusion_matrix(ti, pi, labels=np.arange(k)).tolist()
    out["classes"] = cls
    out["n"] = int(n)
    out["n_subjects"] = None if groups is None else int(n_subj)
    out["bootstrap"] = _bootstrap_info(n_boot, ci, seed, groups, skipped)
    constant = constant_predictor_warning(yp, "classification", n_classes=len(np.unique(ti)))
    out["warnings"] = [constant] if constant else []
    return out


def _point_auc(ti: np.ndarray, scores: np.ndarray, k: int) -> float | None:
    """Binary AUC or the unweighted mean of one-vs-rest AUCs; None if a class is absent."""
    if np.unique(ti).size < k:
        return None
    if k == 2:
        return float(roc_auc_score(ti == 1, scores))
    # sklearn's multi_class="ovr" needs rows summing to 1; the macro mean of binary AUCs is
    # the same quantity and also accepts raw scores
    return float(np.mean([roc_auc_score(ti == c, scores[:, c]) for c in range(k)]))


def _bootstrap_info(
    n_boot: int, ci: float, seed: int, groups: Any, skipped: dict[str, int]
) -> dict[str, Any]:
    return {
        "n_boot": int(n_boot),
        "ci": float(ci),
        "seed": int(seed),
        "unit": "row" if groups is None else "subject",
        "method": "percentile",
        "skipped": skipped,
    }


# --------------------------------------------------------------------------- regression


def concordance_cc(y_true: Any, y_pred: Any) -> float:
    """Lin's concordance correlation coefficient (population variances).

    ``2 cov(t, p) / (var(t) + var(p) + (mean(t) - mean(p))**2)``; NaN when the denominator is 0.

    Examples
    --------
    >>> concordance_cc([1.0, 2.0, 3.0], [1.0, 2.0, 3.0])
    1.0
    """
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    cov = np.mean((t - t.mean()) * (p - p.mean()))
    denom = t.var() + p.var() + (t.mean() - p.mean()) ** 2
    return float(2 * cov / denom) if denom > 0 else float("nan")


def _weighted_midranks(x: np.ndarray, subj: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Mid-ranks of ``x`` in each subject resample [shape=(B, n)] (ties share their mean rank).

    ``subj`` [shape=(n,)] is each row's subject, ``counts`` [shape=(B, S)] the draws.
    """
    _, inv = np.unique(x, return_inverse=True)
    w_unique = counts @ _per_subject_table(subj, inv, counts.shape[1], int(inv.max()) + 1)
    below = np.cumsum(w_unique, axis=1) - w_unique
    return (below + (w_unique + 1) / 2)[:, inv]


def _corr_moments(
    sw: np.ndarray, sa: np.ndarray, sb: np.ndarray, saa: np.ndarray, sbb: np.ndarray,
    sab: np.ndarray,
) -> dict[str, np.ndarray]:
    """Means, (population) variances and covariance from weighted sums [each shape=(B,)].

    ``sw`` = sum of weights, ``sa`` = sum w*a, ``saa`` = sum w*a*a, ``sab`` = sum w*a*b ...
    """
    ma, mb = sa / sw, sb / sw
    va = np.maximum(saa / sw - ma**2, 0)
    vb = np.maximum(sbb / sw - mb**2, 0)
    return {"ma": ma, "mb": mb, "va": va, "vb": vb, "cov": sab / sw - ma * mb}


def _constant_in_resample(
    values: np.ndarray, subj: np.ndarray, n_subj: int, drawn: np.ndarray
) -> np.ndarray:
    """Whether ``values`` are all equal among the drawn subjects' rows [shape=(B,)], bool."""
    vmax = np.full(n_subj, -np.inf)
    vmin = np.full(n_subj, np.inf)
    np.maximum.at(vmax, subj, values)
    np.minimum.at(vmin, subj, values)
    hi = np.where(drawn, vmax, -np.inf).max(axis=1)
    lo = np.where(drawn, vmin, np.inf).min(axis=1)
    return hi == lo


def regression_metrics(
    y_true: Any,
    y_pred: Any,
    *,
    groups: Any = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
    spearman: bool = True,
) -> dict[str, Any]:
    """Regression metrics with subject-bootstrap confidence intervals.

    Parameters
    ----------
    y_true, y_pred : array-like [shape=(n,)], float
        True and predicted scores (e.g. PHQ-8 totals), no missing values.
    groups : array-like [shape=(n,)], optional
        Subject of every row: the bootstrap unit. ``None`` bootstraps rows.
    n_boot : number of bootstrap resamples (0: no intervals)
    ci : interval coverage
    seed : bootstrap random seed
    spearman : also compute Spearman's rank correlation

    Returns
    -------
    dict
        ``mae``, ``rmse``, ``pearson_r``, ``ccc`` (Lin's concordance), ``spearman_r``, each with
        ``<name>_ci``; correlations are None where undefined (constant values); ``n``,
        ``n_subjects``, ``task``, ``bootstrap``, ``warnings`` as in
        :func:`classification_metrics`.

    Raises
    ------
    ConfigError
        Mismatched lengths or missing/non-finite values.

    Examples
    --------
    >>> m = regression_metrics([1.0, 2.0, 3.0, 4.0], [1.5, 2.0, 2.5, 4.0], n_boot=0)
    >>> round(m["mae"], 3), round(m["pearson_r"], 3)
    (0.25, 0.956)
    """
    _check_common(n_boot, ci)
    t = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(y_pred, dtype=np.float64)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ConfigError(
            f"y_true and y_pred must be 1-D, non-empty and equally long; got {t.shape}, {p.shape}"
        )
    if not (np.isfinite(t).all() and np.isfinite(p).all()):
        raise ConfigError("y_true/y_pred have missing or infinite values; drop them first")
    n = t.size
    subj, n_subj = _subject_index(groups, n)

    const = t.min() == t.max() or p.min() == p.max()
    points: dict[str, float | None] = {
        "mae": float(mean_absolute_error(t, p)),
        "rmse": float(root_mean_squared_error(t, p)),
        "pearson_r": None if const else float(stats.pearsonr(t, p).statistic),
        "ccc": concordance_cc(t, p),
    }
    if spearman:
        points["spearman_r"] = None if const else float(stats.spearmanr(t, p).statistic)

    boot: dict[str, np.ndarray | None] = dict.fromkeys(points)
    if n_boot > 0:
        counts = _subject_counts(n_subj, n_boot, seed)
        err = p - t
        # centre on the overall means first: moments from sums of squares cancel badly
        # for scores far from zero
        centre = 0.5 * (t.mean() + p.mean())
        tc, pc = t - centre, p - centre
        # every statistic is a ratio of sums over rows, so per-subject sums suffice:
        # resample sums = counts @ per-subject sums
        columns = np.stack([np.ones(n), np.abs(err), err * err, tc, pc, tc * tc, pc * pc, tc * pc],
                           axis=1)
        per_subject = np.zeros((n_subj, columns.shape[1]))
        np.add.at(per_subject, subj, columns)
        sw, s_abs, s_sq, st, sp, stt, spp, stp = (counts @ per_subject).T
        boot["mae"] = s_abs / sw
        boot["rmse"] = np.sqrt(s_sq / sw)
        drawn = counts > 0
        degenerate = _constant_in_resample(t, subj, n_subj, drawn) | _constant_in_resample(
            p, subj, n_subj, drawn
        )
        m = _corr_moments(sw, st, sp, stt, spp, stp)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = m["cov"] / np.sqrt(m["va"] * m["vb"])
            ccc_den = m["va"] + m["vb"] + (m["ma"] - m["mb"]) ** 2
            ccc = np.where(ccc_den > 0, 2 * m["cov"] / ccc_den, np.nan)
        boot["pearson_r"] = np.where(degenerate, np.nan, r)
        boot["ccc"] = ccc
        if spearman:
            w = counts[:, subj]
            rt = _weighted_midranks(t, subj, counts)
            rp = _weighted_midranks(p, subj, counts)
            rm = _corr_moments(sw, (w * rt).sum(1), (w * rp).sum(1), (w * rt * rt).sum(1),
                               (w * rp * rp).sum(1), (w * rt * rp).sum(1))
            with np.errstate(divide="ignore", invalid="ignore"):
                rho = rm["cov"] / np.sqrt(rm["va"] * rm["vb"])
            boot["spearman_r"] = np.where(degenerate, np.nan, rho)

    out: dict[str, Any] = {"task": "regression"}
    skipped = {name: _attach(out, name, points[name], boot[name], ci) for name in points}
    out["n"] = int(n)
    out["n_subjects"] = None if groups is None else int(n_subj)
    out["bootstrap"] = _bootstrap_info(n_boot, ci, seed, groups, skipped)
    constant = constant_predictor_warning(p, "regression")
    out["warnings"] = [constant] if constant else []
    return out


# --------------------------------------------------------------------------- baselines


def _training_side(fold: np.ndarray | None, subj: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(test rows, training rows) pairs: one per fold, or one per subject without folds.

    A fold's training side is every scored row outside it, so a baseline sees exactly the
    subjects a model of that fold could have seen (never the test subjects themselves). With
    a single fold (a held-out set) the training rows are not among the scored ones, so each
    subject is set against the other scored subjects instead (leave-one-subject-out).
    """
    usable = fold is not None and (fold >= 0).all() and np.unique(fold).size > 1
    units = fold if usable else subj
    out = []
    for u in np.unique(units):
        test = units == u
        out.append((np.flatnonzero(test), np.flatnonzero(~test)))
    return out


def majority_baseline(
    y_true: Any,
    *,
    groups: Any,
    folds: Any = None,
    classes: Any = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Scores of a model that always predicts the majority class of its training side.

    The majority class is taken from the rows outside each test fold (leave-one-subject-out
    when ``folds`` is None), so the baseline is as subject-independent as the model it is
    compared with. Intervals use the same subject bootstrap (same ``seed``) as
    :func:`classification_metrics`. Also returns the chance level of uniform guessing.

    Parameters
    ----------
    y_true : array-like [shape=(n,)], class labels
    groups : array-like [shape=(n,)], subject of every row
    folds : array-like [shape=(n,)] of int, optional; the outer fold of every row
    classes : all class labels (default: those in ``y_true``)
    n_boot, ci, seed : as in :func:`classification_metrics`

    Returns
    -------
    dict
        ``majority``: {uar, accuracy, macro_f1 with ``_ci``, ``class`` (the most common
        majority class)}; ``chance``: {uar, accuracy} = 1/K.

    Examples
    --------
    >>> b = majority_baseline(["a", "a", "b", "a"], groups=["s1", "s2", "s3", "s4"], n_boot=0)
    >>> b["chance"]["uar"], b["majority"]["class"]
    (0.5, 'a')
    """
    yt = np.asarray(y_true).astype(str)
    subj, _ = _subject_index(groups, yt.size)
    fold = None if folds is None else np.asarray(folds, dtype=np.int64)
    pred = np.empty(yt.size, dtype=object)
    for test, train in _training_side(fold, subj):
        source = yt[train] if train.size else yt
        values, counts = np.unique(source, return_counts=True)
        pred[test] = values[np.argmax(counts)]  # ties: the first in sorted order
    cls = [str(c) for c in classes] if classes is not None else sorted(set(yt))
    m = classification_metrics(yt, pred.astype(str), classes=cls, groups=groups,
                               n_boot=n_boot, ci=ci, seed=seed)
    values, counts = np.unique(pred.astype(str), return_counts=True)
    majority = {k: m[k] for k in ("uar", "uar_ci", "accuracy", "accuracy_ci", "macro_f1",
                                  "macro_f1_ci")}
    majority["class"] = str(values[np.argmax(counts)])
    k = len(cls)
    return {"majority": majority, "chance": {"uar": 1.0 / k, "accuracy": 1.0 / k}}


def mean_baseline(
    y_true: Any,
    y_pred: Any = None,
    *,
    groups: Any,
    folds: Any = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """The floor of a score model: predict every test row with the mean of the training side.

    Without ``folds`` each subject is predicted with the mean of every *other* subject's
    rows (leave-one-subject-out); with them, with the mean of the rows outside its fold.
    Intervals resample subjects with the same seed as :func:`regression_metrics`, and when
    the model's ``y_pred`` is given the paired difference of the MAEs (model minus floor,
    negative = the model is better) gets its own interval from the same resamples.

    Parameters
    ----------
    y_true : array-like [shape=(n,)], float scores
    y_pred : array-like [shape=(n,)], optional; the model's predictions
    groups : array-like [shape=(n,)], subject of every row
    folds : array-like [shape=(n,)] of int, optional
    n_boot, ci, seed : as in :func:`regression_metrics`

    Returns
    -------
    dict
        ``mae``, ``rmse`` (each with ``_ci``) of the floor; with ``y_pred`` also
        ``mae_difference`` and ``mae_difference_ci``.

    Examples
    --------
    >>> b = mean_baseline([0.0, 2.0, 4.0], groups=["a", "b", "c"], n_boot=0)
    >>> round(b["mae"], 3)
    2.0
    """
    _check_common(n_boot, ci)
    t = np.asarray(y_true, dtype=np.float64)
    subj, n_subj = _subject_index(groups, t.size)
    fold = None if folds is None else np.asarray(folds, dtype=np.int64)
    floor = np.empty_like(t)
    for test, train in _training_side(fold, subj):
        floor[test] = t[train].mean() if train.size else t.mean()
    m = regression_metrics(t, floor, groups=groups, n_boot=n_boot, ci=ci, seed=seed,
                           spearman=False)
    out: dict[str, Any] = {k: m[k] for k in ("mae", "mae_ci", "rmse", "rmse_ci")}
    if y_pred is not None:
        p = np.asarray(y_pred, dtype=np.float64)
        diff = np.abs(p - t) - np.abs(floor - t)
        out["mae_difference"] = float(diff.mean())
        out["mae_difference_ci"] = None
        if n_boot > 0:
            counts = _subject_counts(n_subj, n_boot, seed)
            per_subject = np.zeros((n_subj, 2))
            np.add.at(per_subject, subj, np.stack([np.ones_like(diff), diff], axis=1))
            sums = counts @ per_subject
            out["mae_difference_ci"] = _interval(sums[:, 1] / sums[:, 0], ci)
    return out


# --------------------------------------------------------------------------- screening


def screening_metrics(
    true_positive: Any,
    predicted_positive: Any,
    *,
    groups: Any = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> dict[str, Any]:
    """Sensitivity, specificity, PPV, NPV and the positive class's F1 of a screen.

    Parameters
    ----------
    true_positive : array-like [shape=(n,)], bool; e.g. PHQ-9 >= 10 on the questionnaire
    predicted_positive : array-like [shape=(n,)], bool; e.g. predicted PHQ-9 >= 10
    groups : array-like [shape=(n,)], optional; subject of every row (bootstrap unit)
    n_boot, ci, seed : as in :func:`classification_metrics`

    Returns
    -------
    dict
        ``sensitivity``, ``specificity``, ``ppv``, ``npv``, ``f1_positive`` (each None where
        undefined, with ``_ci``); ``tp``, ``fp``, ``tn``, ``fn``, ``prevalence``, ``n``,
        ``bootstrap``.

    Examples
    --------
    >>> s = screening_metrics([1, 1, 0, 0], [1, 0, 0, 1], n_boot=0)
    >>> s["sensitivity"], s["specificity"], s["ppv"]
    (0.5, 0.5, 0.5)
    """
    _check_common(n_boot, ci)
    t = np.asarray(true_positive).astype(bool)
    p = np.asarray(predicted_positive).astype(bool)
    if t.ndim != 1 or t.shape != p.shape or t.size == 0:
        raise ConfigError(f"screening needs two equally long 1-D arrays; got {t.shape}, {p.shape}")
    subj, n_subj = _subject_index(groups, t.size)
    cells = np.stack([t & p, ~t & p, ~t & ~p, t & ~p], axis=1).astype(np.float64)

    def rates(c: np.ndarray) -> dict[str, np.ndarray]:
        tp, fp, tn, fn = c[..., 0], c[..., 1], c[..., 2], c[..., 3]
        with np.errstate(divide="ignore", invalid="ignore"):
            return {
                "sensitivity": np.where(tp + fn > 0, tp / (tp + fn), np.nan),
                "specificity": np.where(tn + fp > 0, tn / (tn + fp), np.nan),
                "ppv": np.where(tp + fp > 0, tp / (tp + fp), np.nan),
                "npv": np.where(tn + fn > 0, tn / (tn + fn), np.nan),
                "f1_positive": np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan),
            }

    totals = cells.sum(axis=0)
    points = {k: float(v) for k, v in rates(totals).items()}
    boot: dict[str, np.ndarray | None] = dict.fromkeys(points)
    if n_boot > 0:
        per_subject = np.zeros((n_subj, 4))
        np.add.at(per_subject, subj, cells)
        boot.update(rates(_subject_counts(n_subj, n_boot, seed) @ per_subject))
    out: dict[str, Any] = {}
    skipped = {k: _attach(out, k, points[k], boot[k], ci) for k in points}
    out.update({k: int(v) for k, v in zip(("tp", "fp", "tn", "fn"), totals, strict=True)})
    out["n"] = int(t.size)
    out["prevalence"] = float(t.mean())
    out["bootstrap"] = _bootstrap_info(n_boot, ci, seed, groups, skipped)
    return out
