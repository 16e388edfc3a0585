"""Evaluation protocols: train/test splits that keep every speaker on one side.

A protocol is built by name with :func:`make_protocol` and yields ``(train_idx, test_idx)``
index arrays like a scikit-learn splitter. ``groups`` (the subject of every row) is a required
argument of :meth:`Protocol.split`, and every fold of a subject-independent protocol is checked
by :func:`check_no_leakage` before it is handed out, so a bug in a splitter (or a corpus's own
predefined split) can never silently put one speaker on both sides.

========================  ===================  ==============================================
name                      subject-independent  folds
========================  ===================  ==============================================
``loso``                  yes                  one per subject (leave-one-subject-out)
``loo_subjects``          yes                  one per subject; pooled scores only
``group_kfold``           yes                  ``n_splits`` subject-grouped folds
``predefined``            yes (checked)        one: the corpus's train(+dev) vs test/dev
``holdout``               yes                  one: a seeded held-out set of subjects
``stratified_kfold``      **no**               ``n_splits`` folds over recordings
``fold_file``             checked (declared)   the folds of an EmoBox-style fold-file folder
========================  ===================  ==============================================

Protocols also implement ``get_n_splits`` and accept ``groups`` as the third positional argument
of ``split``, so they can be passed as ``cv=`` to :func:`sklearn.model_selection.cross_validate`.

Examples
--------
>>> import numpy as np
>>> p = make_protocol("group_kfold", n_splits=2, stratified=False)
>>> groups = np.array(["a", "a", "b", "b", "c", "d"])
>>> [sorted(set(groups[test].tolist())) for _, test in p.split(np.zeros(6), groups=groups)]
[['c', 'd'], ['a', 'b']]
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from sklearn.model_selection import (
    GroupKFold,
    GroupShuffleSplit,
    LeaveOneGroupOut,
    StratifiedGroupKFold,
    StratifiedKFold,
    train_test_split,
)
from sklearn.utils.multiclass import type_of_target

from vocalmind.errors import ConfigError, LeakageError

Fold = tuple[np.ndarray, np.ndarray]


def check_no_leakage(train_groups: Any, test_groups: Any) -> None:
    """Raise if any subject appears on both sides of a split.

    Parameters
    ----------
    train_groups : array-like [shape=(n_train,)]
        Subject of every training row.
    test_groups : array-like [shape=(n_test,)]
        Subject of every test row.

    Raises
    ------
    LeakageError
        Naming (up to ten of) the subjects found on both sides.

    Examples
    --------
    >>> check_no_leakage(["a", "b"], ["c"])
    >>> check_no_leakage(["a", "b"], ["b"])
    Traceback (most recent call last):
    ...
    vocalmind.errors.LeakageError: 1 subject(s) on both sides of a train/test split: ['b']
    """
    leaked = np.intersect1d(np.asarray(train_groups), np.asarray(test_groups))
    if leaked.size:
        shown = [x.item() if isinstance(x, np.generic) else x for x in leaked[:10]]
        more = f" (and {leaked.size - 10} more)" if leaked.size > 10 else ""
        raise LeakageError(
            f"{leaked.size} subject(s) on both sides of a train/test split: {shown}{more}"
        )


def _as_groups(groups: Any, n_rows: int | None) -> np.ndarray:
    """Check ``groups`` (required, one non-missing id per row) and return it as an array."""
    if groups is None:
        raise ConfigError(
            "split() needs groups= (the subject of every row): evaluation protocols are "
            "defined over subjects; pass manifest['subject']"
        )
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ConfigError(f"groups must be 1-D (one subject per row), got shape {g.shape}")
    if n_rows is not None and len(g) != n_rows:
        raise ConfigError(f"groups has {len(g)} entries but X has {n_rows} rows")
    if pd.isna(g).any():
        raise ConfigError(f"groups has {int(pd.isna(g).sum())} missing subject ids; fill them in")
    return g


def _is_class_labels(y: Any) -> bool:
    """True when ``y`` holds class labels (binary or multiclass), not continuous scores.

    Labels with NaN (missing) or of mixed types are not usable as classes: False, so a
    stratified protocol says so with a ConfigError instead of scikit-learn's traceback.
    """
    if y is None:
        return False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NaN cast while it checks
            return type_of_target(np.asarray(y)) in ("binary", "multiclass")
    except ValueError:  # "Input contains NaN", mixed label types
        return False


def _n_rows(X: Any, groups: Any) -> int | None:
    if X is not None:
        return len(X)
    return None if groups is None else len(groups)


@dataclass(frozen=True)
class Protocol(ABC):
    """An evaluation protocol: a named, described, leakage-checked splitter.

    Subclasses set the class attributes ``name`` and ``subject_independent`` and implement
    ``_folds``; :meth:`split` adds the argument checks and the leakage check.
    """

    name: ClassVar[str]
    subject_independent: ClassVar[bool] = True
    #: False where a single fold's test set is too small for its own scores to mean anything
    per_fold_scores: ClassVar[bool] = True

    @abstractmethod
    def describe(self) -> str:
        """One sentence saying what the protocol does (for reports)."""

    @abstractmethod
    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        """Yield raw folds; inputs are already checked."""

    def split(
        self, X: Any, y: Any = None, groups: Any = None, split_labels: Any = None
    ) -> Iterator[Fold]:
        """Yield ``(train_idx, test_idx)`` integer index arrays.

        Parameters
        ----------
        X : array-like [shape=(n_rows, ...)] or None
            Features; only its length is used (and, for ``stratified_kfold``, a ``file``
            index level or column if it is a DataFrame).
        y : array-like [shape=(n_rows,)], optional
            Labels; required by stratified protocols.
        groups : array-like [shape=(n_rows,)]
            Subject of every row. Required.
        split_labels : array-like [shape=(n_rows,)], optional
            The manifest's ``split`` column; required by ``predefined``.

        Yields
        ------
        train_idx, test_idx : np.ndarray [shape=(n_train,), (n_test,)], int64

        Raises
        ------
        ConfigError
            Missing ``groups``, mismatched lengths, or inputs the protocol cannot split.
        LeakageError
            If a subject-independent fold has a subject on both sides.
        """
        g = _as_groups(groups, _n_rows(X, groups))
        yy = None if y is None else np.asarray(y)
        if yy is not None and len(yy) != len(g):
            raise ConfigError(f"y has {len(yy)} entries but groups has {len(g)}")
        sl = None if split_labels is None else np.asarray(split_labels, dtype=object)
        if sl is not None and len(sl) != len(g):
            raise ConfigError(f"split_labels has {len(sl)} entries but groups has {len(g)}")
        if np.unique(g).size < 2:
            raise ConfigError(
                f"protocol {self.name!r} needs at least 2 subjects; groups has {np.unique(g).size}"
            )
        for train, test in self._folds(X, yy, g, sl):
            train = np.asarray(train, dtype=np.int64)
            test = np.asarray(test, dtype=np.int64)
            if self.subject_independent:
                check_no_leakage(g[train], g[test])
            yield train, test

    def get_n_splits(
        self, X: Any = None, y: Any = None, groups: Any = None, split_labels: Any = None
    ) -> int:
        """Number of folds :meth:`split` yields for these inputs (scikit-learn API)."""
        return sum(1 for _ in self.split(X, y, groups, split_labels))

    def params(self) -> dict[str, Any]:
        """The protocol's parameters (as given to :func:`make_protocol`)."""
        return asdict(self)

    def to_dict(self) -> dict[str, Any]:
        """``{name, params, description, subject_independent}`` for ``metrics["protocol"]``."""
        return {
            "name": self.name,
            "params": self.params(),
            "description": self.describe(),
            "subject_independent": self.subject_independent,
        }


@dataclass(frozen=True)
class LeaveOneSubjectOut(Protocol):
    """Leave-one-subject-out: one fold per subject, every row tested exactly once."""

    name: ClassVar[str] = "loso"

    def describe(self) -> str:
        return (
            "Leave-one-subject-out cross-validation: each subject's recordings are tested "
            "by a model trained on all other subjects (subject-independent)."
        )

    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        yield from LeaveOneGroupOut().split(np.zeros(len(groups)), None, groups)


@dataclass(frozen=True)
class LeaveOneOutSubjects(LeaveOneSubjectOut):
    """Leave-one-out over subjects, for corpora with (about) one recording per subject.

    The folds are exactly those of ``loso``. The difference is in what the folds mean: with
    one recording per subject (EMU, the 47 patients of document 002), a fold's test set is a
    single recording, so per-fold scores are meaningless (an accuracy of 0 or 1, no
    correlation at all) and only the scores pooled over all folds may be reported;
    ``per_fold_scores`` is ``False`` to tell callers so. ``loso`` assumes each subject has
    many recordings, so per-speaker fold scores are meaningful as well.
    """

    name: ClassVar[str] = "loo_subjects"
    per_fold_scores: ClassVar[bool] = False

    def describe(self) -> str:
        return (
            "Leave-one-out over subjects: each subject (typically one recording) is tested by "
            "a model trained on all other subjects, and scores are pooled over all folds "
            "(subject-independent)."
        )


@dataclass(frozen=True)
class GroupKFoldProtocol(Protocol):
    """Subject-grouped k-fold; ``stratified=True`` balances class proportions across folds.

    Parameters
    ----------
    n_splits : number of folds (at most the number of subjects)
    stratified : use :class:`~sklearn.model_selection.StratifiedGroupKFold` (needs class
        labels ``y``)
    shuffle : shuffle subjects before assigning folds
    seed : random seed used when ``shuffle`` is true
    """

    name: ClassVar[str] = "group_kfold"
    n_splits: int = 5
    stratified: bool = True
    shuffle: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.n_splits, int) or self.n_splits < 2:
            raise ConfigError(f"group_kfold n_splits must be an integer >= 2, got {self.n_splits!r}")

    def describe(self) -> str:
        kind = "stratified subject-grouped" if self.stratified else "subject-grouped"
        return (
            f"{self.n_splits}-fold {kind} cross-validation: no subject appears in both the "
            "training and the test part of any fold (subject-independent)."
        )

    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        n_subjects = np.unique(groups).size
        if self.n_splits > n_subjects:
            raise ConfigError(
                f"group_kfold n_splits={self.n_splits} exceeds the {n_subjects} subjects; "
                f"use n_splits <= {n_subjects} or protocol 'loso'"
            )
        rs = self.seed if self.shuffle else None
        dummy = np.zeros(len(groups))
        if self.stratified:
            if not _is_class_labels(y):
                raise ConfigError(
                    "group_kfold stratified=True needs class labels y; for scores (regression) "
                    "set stratified=False"
                )
            largest = int(np.unique(y, return_counts=True)[1].max())
            if largest < self.n_splits:
                raise ConfigError(
                    f"group_kfold stratified with n_splits={self.n_splits}, but no class has "
                    f"that many rows (largest: {largest}); lower n_splits or set "
                    "stratified=False"
                )
            cv = StratifiedGroupKFold(self.n_splits, shuffle=self.shuffle, random_state=rs)
            yield from cv.split(dummy, y, groups)
        else:
            yield from GroupKFold(self.n_splits, shuffle=self.shuffle, random_state=rs).split(
                dummy, None, groups
            )


@dataclass(frozen=True)
class PredefinedSplit(Protocol):
    """The corpus's own partition from the manifest's ``split`` column.

    Rows whose split is ``"train"`` (and ``"dev"`` when ``use_dev_for_training``) train; rows
    whose split equals ``test_split`` are tested; any other row (e.g. NaN) is left out. For
    corpora whose test labels are withheld, set ``test_split="dev"``. The subjects of the two
    sides are checked like any other protocol: a corpus split that shares speakers raises.

    Parameters
    ----------
    test_split : ``"test"`` or ``"dev"`` (any split value other than ``"train"``)
    use_dev_for_training : also train on ``"dev"`` rows (not allowed with ``test_split="dev"``)
    """

    name: ClassVar[str] = "predefined"
    test_split: str = "test"
    use_dev_for_training: bool = False

    def __post_init__(self) -> None:
        if self.test_split == "train":
            raise ConfigError("predefined test_split cannot be 'train'; use 'test' or 'dev'")
        if self.use_dev_for_training and self.test_split == "dev":
            raise ConfigError(
                "predefined: use_dev_for_training=True contradicts test_split='dev' "
                "(the dev rows cannot be both trained and tested on)"
            )

    def describe(self) -> str:
        train = "train+dev" if self.use_dev_for_training else "train"
        return (
            f"The corpus's predefined partition: trained on its {train} split and tested on "
            f"its {self.test_split} split, checked to share no subject (subject-independent)."
        )

    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        if split_labels is None:
            raise ConfigError(
                "protocol 'predefined' needs split_labels= (the manifest's 'split' column)"
            )
        labels = np.array(["" if pd.isna(v) else str(v).lower() for v in split_labels])
        train_names = {"train", "dev"} if self.use_dev_for_training else {"train"}
        train = np.flatnonzero(np.isin(labels, list(train_names)))
        test = np.flatnonzero(labels == self.test_split)
        found = sorted({str(v) for v in pd.unique(split_labels) if not pd.isna(v)})
        if train.size == 0 or test.size == 0:
            side = "training" if train.size == 0 else f"{self.test_split!r}"
            raise ConfigError(
                f"predefined split has no {side} rows; split values found: {found}. "
                "Set test_split='dev' if the corpus has no test partition."
            )
        if y is not None and pd.isna(pd.Series(y[test], dtype=object)).all():
            raise ConfigError(
                f"the {self.test_split!r} split has no labels (withheld by the corpus?); "
                "use test_split='dev'"
            )
        yield train, test


@dataclass(frozen=True)
class HoldoutSplit(Protocol):
    """One seeded held-out set of subjects, stratified by label when possible.

    Parameters
    ----------
    test_size : fraction of subjects (0 < x < 1) or number of subjects (int >= 1) to hold out
    seed : random seed
    stratify : ``None`` (default) stratifies when ``y`` holds class labels and the classes
        are large enough, ``True`` requires it (raises otherwise), ``False`` never does.

    Notes
    -----
    When every subject has a single label the subjects themselves are split with
    :func:`sklearn.model_selection.train_test_split` (exact size, stratified by that label).
    When a subject's rows carry several labels (e.g. emotions), the first fold of a seeded
    :class:`~sklearn.model_selection.StratifiedGroupKFold` with ``round(1 / test_size)``
    folds is held out, so the size is only approximately ``test_size``.
    """

    name: ClassVar[str] = "holdout"
    test_size: float = 0.2
    seed: int = 0
    stratify: bool | None = None

    def __post_init__(self) -> None:
        ts = self.test_size
        ok = (isinstance(ts, float) and 0 < ts < 1) or (
            isinstance(ts, int) and not isinstance(ts, bool) and ts >= 1
        )
        if not ok:
            raise ConfigError(
                f"holdout test_size must be a fraction in (0, 1) or a number of subjects >= 1, "
                f"got {ts!r}"
            )

    def describe(self) -> str:
        size = (
            f"{self.test_size:.0%} of the subjects"
            if isinstance(self.test_size, float)
            else f"{self.test_size} subjects"
        )
        return (
            f"A single held-out test set of {size} (seed {self.seed}, stratified by label when "
            "possible), disjoint in subjects from the training set (subject-independent)."
        )

    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        subjects, subj_idx = np.unique(groups, return_inverse=True)
        n_subj = subjects.size
        n_test = (
            math.ceil(self.test_size * n_subj)
            if isinstance(self.test_size, float)
            else self.test_size
        )
        if not 1 <= n_test < n_subj:
            raise ConfigError(
                f"holdout test_size={self.test_size!r} leaves {n_test} of {n_subj} subjects for "
                "testing; need at least one subject on each side"
            )
        fold = None if self.stratify is False else self._stratified(y, groups, subj_idx, n_test)
        if fold is None:
            if self.stratify:
                raise ConfigError(
                    "holdout stratify=True, but y is not class labels or a class has too few "
                    "subjects to stratify; set stratify=None or False"
                )
            gss = GroupShuffleSplit(n_splits=1, test_size=n_test, random_state=self.seed)
            fold = next(gss.split(np.zeros(len(groups)), None, groups))
        yield fold

    def _stratified(
        self, y: np.ndarray | None, groups: np.ndarray, subj_idx: np.ndarray, n_test: int
    ) -> Fold | None:
        """A stratified held-out fold, or None when stratification is impossible."""
        if not _is_class_labels(y):
            return None
        per_subject = pd.DataFrame({"s": subj_idx, "y": y}).groupby("s")["y"]
        if (per_subject.nunique() == 1).all():
            subj_label = per_subject.first().to_numpy()
            _, counts = np.unique(subj_label, return_counts=True)
            n_cls = counts.size
            if counts.min() < 2 or n_test < n_cls or subj_label.size - n_test < n_cls:
                return None
            _, test_subj = train_test_split(
                np.arange(subj_label.size),
                test_size=n_test,
                stratify=subj_label,
                random_state=self.seed,
            )
            is_test = np.isin(subj_idx, test_subj)
            return np.flatnonzero(~is_test), np.flatnonzero(is_test)
        n_subj = int(subj_idx.max()) + 1
        k = min(max(2, round(n_subj / n_test)), n_subj)
        _, class_counts = np.unique(y, return_counts=True)
        if class_counts.min() < k:
            return None
        cv = StratifiedGroupKFold(k, shuffle=True, random_state=self.seed)
        return next(cv.split(np.zeros(len(groups)), y, groups))


@dataclass(frozen=True)
class StratifiedKFoldRecordings(Protocol):
    """Stratified k-fold over recordings: SPEAKER-DEPENDENT, for comparison only.

    The same speaker is in training and test sets, so scores are inflated by speaker
    identity; this protocol exists only to reproduce published speaker-dependent numbers
    (e.g. the stratified 10-fold CV of document 001). If ``X`` is a DataFrame with a
    ``file`` index level or column, the segments of one recording stay together.

    Parameters
    ----------
    n_splits : number of folds
    shuffle : shuffle before assigning folds
    seed : random seed used when ``shuffle`` is true
    """

    name: ClassVar[str] = "stratified_kfold"
    subject_independent: ClassVar[bool] = False
    n_splits: int = 10
    shuffle: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.n_splits, int) or self.n_splits < 2:
            raise ConfigError(
                f"stratified_kfold n_splits must be an integer >= 2, got {self.n_splits!r}"
            )

    def describe(self) -> str:
        return (
            f"{self.n_splits}-fold stratified cross-validation over recordings: "
            "speaker-dependent (the same speakers are trained and tested on), reported only "
            "for comparison with published speaker-dependent results."
        )

    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        if not _is_class_labels(y):
            raise ConfigError("stratified_kfold needs class labels y")
        rs = self.seed if self.shuffle else None
        files = _recording_ids(X)
        dummy = np.zeros(len(groups))
        if files is None:
            yield from StratifiedKFold(self.n_splits, shuffle=self.shuffle, random_state=rs).split(
                dummy, y
            )
        else:
            cv = StratifiedGroupKFold(self.n_splits, shuffle=self.shuffle, random_state=rs)
            yield from cv.split(dummy, y, files)


@dataclass(frozen=True)
class FoldFileProtocol(Protocol):
    """The folds of published fold files (EmoBox's JSON-lines layout), for comparable results.

    Each row is placed by its recording (matched on the end of its path, see
    :mod:`vocalmind.evaluation.folds`); rows the files do not mention are not used, and
    recordings of the files missing from the manifest are left out of their fold.

    Parameters
    ----------
    path : folder holding ``fold_<k>/<dataset>_{train,test}_fold_<k>.jsonl``
    folds : fold numbers to run (default all)
    speaker_dependent : declare that the files put the same speakers in training and test
        folds (some published folds split recordings, not speakers). Default ``False``: every
        fold is checked like any subject-independent protocol and a shared speaker raises,
        naming this option; with ``True`` the run and its report say *speaker-dependent*.
    """

    name: ClassVar[str] = "fold_file"
    path: str = ""
    folds: tuple[int, ...] | list[int] | None = None
    speaker_dependent: bool = False

    @property
    def subject_independent(self) -> bool:  # type: ignore[override]
        return not self.speaker_dependent

    def describe(self) -> str:
        which = "all folds" if not self.folds else f"folds {list(self.folds)}"
        kind = ("SPEAKER-DEPENDENT: the fold file puts the same speakers in training and test "
                "folds, so scores are inflated by speaker identity"
                if self.speaker_dependent else
                "checked to share no subject between training and test (subject-independent)")
        return (f"The published folds of the fold file {Path(self.path).name}/ "
                f"({which}), e.g. EmoBox's benchmark folds: {kind}.")

    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        from vocalmind.evaluation.folds import fold_indices, read_fold_files

        if not self.path:
            raise ConfigError("fold_file needs path= (a folder of EmoBox-style fold files), "
                              "e.g. protocol.params.path: EmoBox/data/savee")
        files = _recording_ids(X)
        if files is None:
            raise ConfigError("fold_file needs the file of every row (a table with a 'file' "
                              "column or index level)")
        table = read_fold_files(self.path)
        if self.folds:
            table = table[table["fold"].isin(list(self.folds))]
            if table.empty:
                raise ConfigError(f"fold_file: none of folds {list(self.folds)} is in {self.path}")
        folds, _ = fold_indices([str(f) for f in files], table)
        for k, (train, test) in enumerate(folds):
            shared = np.intersect1d(groups[train], groups[test])
            if shared.size and not self.speaker_dependent:
                raise LeakageError(
                    f"fold file {self.path}: fold {k + 1} has {shared.size} speaker(s) in both "
                    f"its training and test part (e.g. {shared[:3].tolist()}); it is a "
                    "speaker-dependent split. Set protocol.params.speaker_dependent: true to "
                    "run it anyway (the report then says speaker-dependent)."
                )
            yield train, test


def _recording_ids(X: Any) -> np.ndarray | None:
    """The ``file`` of every row if ``X`` is a DataFrame that carries it, else None."""
    if isinstance(X, pd.DataFrame):
        if "file" in (X.index.names or []):
            return X.index.get_level_values("file").to_numpy()
        if "file" in X.columns:
            return X["file"].to_numpy()
    return None


PROTOCOLS: dict[str, type[Protocol]] = {
    cls.name: cls
    for cls in (
        LeaveOneSubjectOut,
        LeaveOneOutSubjects,
        GroupKFoldProtocol,
        PredefinedSplit,
        HoldoutSplit,
        StratifiedKFoldRecordings,
        FoldFileProtocol,
    )
}


def available_protocols() -> list[str]:
    """Names accepted by :func:`make_protocol`."""
    return sorted(PROTOCOLS)


def make_protocol(name: str, **params: Any) -> Protocol:
    """Build an evaluation protocol by name.

    Parameters
    ----------
    name : one of :func:`available_protocols`
    **params : the protocol's parameters (see each class)

    Raises
    ------
    ConfigError
        Unknown name, unknown parameter, or contradictory/invalid parameter values.

    Examples
    --------
    >>> make_protocol("loso").subject_independent
    True
    >>> "speaker-dependent" in make_protocol("stratified_kfold", n_splits=5).describe()
    True
    """
    cls = PROTOCOLS.get(name)
    if cls is None:
        raise ConfigError(f"unknown protocol {name!r}; choose one of {available_protocols()}")
    allowed = [f.name for f in fields(cls)]
    unknown = sorted(set(params) - set(allowed))
    if unknown:
        raise ConfigError(f"protocol {name!r} has no parameter(s) {unknown}; it takes {allowed}")
    return cls(**params)


@dataclass(frozen=True)
class InnerGroupSplit(Protocol):
    """Subject-grouped splits *inside* one outer training fold, for tuning and early stopping.

    The one inner splitter of vocalmind: grid search (``model.tune``), the deep ASHA search
    (``model.search``), the study MLP's architecture search and early-stopping split, the
    deep engine's validation split and distillation's teacher folds all draw their inner
    folds from it, so every one of them is leakage-checked by :meth:`Protocol.split`. It is
    not an outer protocol (not in :func:`make_protocol`).

    Two modes:

    * **k-fold** (``val_fraction=None``): ``min(n_splits, n_subjects)`` subject-grouped folds,
      :class:`~sklearn.model_selection.StratifiedGroupKFold` when ``stratify`` and ``y`` holds
      class labels of which at least one has ``k`` rows (scikit-learn's own condition), else
      :class:`~sklearn.model_selection.GroupKFold`, also when the stratified folds would
      leave one empty (its greedy balancing can, with about as many subjects as folds).
      ``shuffle`` shuffles subjects with ``seed``.
    * **hold-out** (``val_fraction`` given): one split holding out about that fraction of
      the subjects: the first fold of a seeded ``StratifiedGroupKFold`` with
      ``k = max(2, round(1 / val_fraction))`` folds when ``stratify``, ``y`` holds class
      labels and every class has at least ``k`` subjects (and that fold is not empty), else
      a seeded :class:`~sklearn.model_selection.GroupShuffleSplit` of ``val_fraction`` of the
      subjects.

    Labels are used as given: encode a missing label as its own class (e.g. ``-1``) before
    splitting if those rows should be spread over the folds as well.

    Parameters
    ----------
    n_splits : wanted number of folds in k-fold mode (>= 2; lowered to the number of subjects)
    stratify : balance class proportions across folds when ``y`` allows it
    seed : random seed of the subject shuffle (``None``: not reproducible)
    shuffle : k-fold mode only: shuffle subjects before assigning folds (``False``: plain
        deterministic ``GroupKFold``; ``seed`` is then unused)
    val_fraction : hold-out mode: fraction of subjects to hold out, in (0, 1)

    Examples
    --------
    >>> g = np.repeat(["a", "b", "c", "d", "e", "f"], 2)
    >>> folds = list(InnerGroupSplit(n_splits=3, stratify=False).split(None, groups=g))
    >>> [sorted(set(g[va].tolist())) for _, va in folds]
    [['c', 'f'], ['b', 'd'], ['a', 'e']]
    >>> tr, va = next(InnerGroupSplit(val_fraction=0.3).split(None, groups=g))
    >>> sorted(set(g[va].tolist())), len(tr)
    (['c', 'f'], 8)
    """

    name: ClassVar[str] = "inner"
    n_splits: int = 3
    stratify: bool = True
    seed: int | None = 0
    shuffle: bool = True
    val_fraction: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.n_splits, int | np.integer) or self.n_splits < 2:
            raise ConfigError(f"inner split n_splits must be an integer >= 2, got {self.n_splits!r}")
        if self.val_fraction is not None and not 0 < self.val_fraction < 1:
            raise ConfigError(
                f"inner split val_fraction={self.val_fraction!r} must lie in (0, 1) (a fraction "
                "of the subjects)"
            )

    def describe(self) -> str:
        kind = "stratified subject-grouped" if self.stratify else "subject-grouped"
        if self.val_fraction is not None:
            return (f"An inner {kind} hold-out of {self.val_fraction:.0%} of the training "
                    "subjects (no subject on both sides).")
        return (f"Inner {self.n_splits}-fold {kind} cross-validation inside the training "
                "fold (no subject on both sides of any inner split).")

    def get_n_splits(
        self, X: Any = None, y: Any = None, groups: Any = None, split_labels: Any = None
    ) -> int:
        """Number of splits; without ``groups``, the configured one (scikit-learn API)."""
        if groups is None:
            return 1 if self.val_fraction is not None else int(self.n_splits)
        return super().get_n_splits(X, y, groups, split_labels)

    def _folds(
        self, X: Any, y: np.ndarray | None, groups: np.ndarray, split_labels: np.ndarray | None
    ) -> Iterator[Fold]:
        dummy = np.zeros(len(groups))
        labels = self.stratify and _is_class_labels(y)
        if self.val_fraction is not None:
            k = max(2, round(1 / self.val_fraction))
            if labels and pd.Series(groups).groupby(y).nunique().min() >= k:
                cv = StratifiedGroupKFold(k, shuffle=True, random_state=self.seed)
                fold = next(cv.split(dummy, y, groups))
                if fold[1].size:
                    yield fold
                    return
            gss = GroupShuffleSplit(1, test_size=self.val_fraction, random_state=self.seed)
            yield next(gss.split(dummy, None, groups))
            return
        k = min(int(self.n_splits), np.unique(groups).size)
        rs = self.seed if self.shuffle else None
        # StratifiedGroupKFold refuses when every class has fewer rows than folds, and its
        # greedy balancing can leave a fold empty when there are about as many subjects as
        # folds; plain subject folds then (never empty: k <= subjects)
        if labels and np.unique(y, return_counts=True)[1].max() >= k:
            cv = StratifiedGroupKFold(k, shuffle=self.shuffle, random_state=rs)
            folds = list(cv.split(dummy, y, groups))
            if all(test.size for _, test in folds):
                yield from folds
                return
        yield from GroupKFold(k, shuffle=self.shuffle, random_state=rs).split(dummy, None, groups)


def inner_cv(
    groups: Any, y: Any = None, *, n_splits: int = 3, stratified: bool = True, seed: int = 0,
    shuffle: bool = True,
) -> InnerGroupSplit:
    """A subject-grouped splitter for nested tuning inside one outer training fold.

    Use it as ``GridSearchCV(est, grid, cv=inner_cv(g_train, y_train)).fit(X_train, y_train,
    groups=g_train)`` so that hyper-parameters are never chosen on a speaker seen in training.

    Parameters
    ----------
    groups : array-like [shape=(n_rows,)]
        Subjects of the outer training rows.
    y : array-like [shape=(n_rows,)], optional
        Their labels; stratification is used only when these are class labels (continuous
        scores, or ``y=None``, get plain :class:`~sklearn.model_selection.GroupKFold`).
    n_splits : wanted number of inner folds; lowered to the number of subjects
    stratified : stratify by class when possible
    seed : random seed for the subject shuffle
    shuffle : shuffle subjects (``False``: deterministic ``GroupKFold`` order)

    Returns
    -------
    InnerGroupSplit
        In k-fold mode, with ``n_splits`` already lowered; pass ``groups=`` to its ``split``
        (GridSearchCV's ``fit(..., groups=...)`` does). Whether it stratifies is decided
        here from ``y``, so integer scores passed later to ``split`` are not stratified on.

    Raises
    ------
    ConfigError
        Fewer than 2 subjects or ``n_splits < 2``.

    Examples
    --------
    >>> cv = inner_cv(["a", "a", "b", "c"], [0, 1, 0, 1], n_splits=5)
    >>> cv.get_n_splits(), cv.stratify
    (3, True)
    """
    g = _as_groups(groups, None)
    n_subjects = np.unique(g).size
    if n_splits < 2:
        raise ConfigError(f"inner_cv n_splits must be >= 2, got {n_splits}")
    if n_subjects < 2:
        raise ConfigError(f"inner_cv needs at least 2 subjects, got {n_subjects}")
    return InnerGroupSplit(n_splits=min(n_splits, n_subjects),
                           stratify=bool(stratified and _is_class_labels(y)),
                           seed=seed, shuffle=shuffle)
