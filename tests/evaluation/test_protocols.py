"""Protocols: no subject on both sides, every row tested once, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_validate

from vocalmind.errors import ConfigError, LeakageError
from vocalmind.evaluation import check_no_leakage, inner_cv, make_protocol
from vocalmind.evaluation.protocols import InnerGroupSplit, available_protocols


def random_layout(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random subjects (3-12, unequal sizes, ids shuffled) and 2-3 classes per row."""
    n_subj = int(rng.integers(3, 13))
    sizes = rng.integers(1, 9, size=n_subj)
    ids = rng.permutation([f"s{i:02d}" for i in range(n_subj)])
    groups = np.repeat(ids, sizes)
    order = rng.permutation(groups.size)
    groups = groups[order]
    y = rng.integers(0, int(rng.integers(2, 4)), size=groups.size)
    return groups, y


def assert_partition(folds: list[tuple[np.ndarray, np.ndarray]], n: int) -> None:
    tested = np.sort(np.concatenate([test for _, test in folds]))
    np.testing.assert_array_equal(tested, np.arange(n))
    for train, test in folds:
        assert np.intersect1d(train, test).size == 0
        assert train.size + test.size == n


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_property_no_subject_on_both_sides_and_rows_tested_once():
    rng = np.random.default_rng(123)
    for _ in range(150):
        groups, y = random_layout(rng)
        n_subj = np.unique(groups).size
        X = np.zeros((groups.size, 2))
        cases = [
            (make_protocol("loso"), True),
            (make_protocol("loo_subjects"), True),
            (make_protocol("group_kfold", n_splits=int(rng.integers(2, n_subj + 1)),
                           stratified=False, seed=int(rng.integers(100))), True),
            (make_protocol("group_kfold", n_splits=min(3, n_subj), stratified=True,
                           shuffle=bool(rng.integers(2))), True),
            (make_protocol("holdout", test_size=0.3, seed=int(rng.integers(100))), False),
        ]
        for protocol, partition in cases:
            if protocol.params().get("stratified") and np.bincount(y).max() < 3:
                with pytest.raises(ConfigError, match="no class has that many rows"):
                    list(protocol.split(X, y, groups=groups))
                continue
            folds = list(protocol.split(X, y, groups=groups))
            for train, test in folds:
                assert not set(groups[train]) & set(groups[test]), protocol.name
                assert train.size and test.size
            if partition:
                assert_partition(folds, groups.size)
        assert len(list(make_protocol("loso").split(X, groups=groups))) == n_subj


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_property_inner_splits_never_share_a_subject():
    """The one inner splitter (tuning, ASHA, MLP search, early stopping, distillation), in
    both modes, stratified or not, on random subjects and labels: no subject on both sides
    of any inner split, both sides non-empty, and k-fold mode tests every row once."""
    rng = np.random.default_rng(321)
    for _ in range(150):
        groups, y = random_layout(rng)
        n_subj = np.unique(groups).size
        if rng.integers(2):  # labels with a missing-label stratum, as the callers encode it
            y = np.where(rng.random(y.size) < 0.2, -1, y)
        seed = int(rng.integers(1000))
        kfold = [InnerGroupSplit(n_splits=int(rng.integers(2, 8)), stratify=bool(s), seed=seed,
                                 shuffle=bool(sh))
                 for s in (0, 1) for sh in (0, 1)]
        holdout = [InnerGroupSplit(val_fraction=float(f), stratify=bool(s), seed=seed)
                   for f in rng.choice([0.1, 0.2, 0.25, 0.34, 0.5], 2) for s in (0, 1)]
        for splitter in kfold + holdout:
            labels = y if rng.integers(4) else rng.normal(size=y.size)  # scores: never stratified
            folds = list(splitter.split(None, labels, groups))
            for train, val in folds:
                assert not set(groups[train]) & set(groups[val]), splitter
                assert train.size and val.size
            if splitter.val_fraction is None:
                assert len(folds) == min(splitter.n_splits, n_subj)
                assert_partition(folds, groups.size)
            else:
                assert len(folds) == 1
                assert train.size + val.size == groups.size
        # same seed, same splits (the tuning folds of a re-run are the ones recorded)
        again = [np.concatenate(f) for f in kfold[3].split(None, y, groups)]
        first = [np.concatenate(f) for f in InnerGroupSplit(
            n_splits=kfold[3].n_splits, seed=seed).split(None, y, groups)]
        assert all(np.array_equal(a, b) for a, b in zip(again, first, strict=True))


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_property_every_inner_split_caller_is_subject_grouped():
    """The callers of the inner splitter (grid-search tuning, deep validation split, ASHA
    folds, grouped objective, MLP early stopping and search) on random layouts."""
    from vocalmind.models.mlp import MLPModel
    from vocalmind.training.data import inner_split
    from vocalmind.training.search import grouped_cv_objective
    from vocalmind.training.tuning import inner_folds

    rng = np.random.default_rng(99)
    for _ in range(60):
        groups, y = random_layout(rng)
        n_subj = np.unique(groups).size
        seed = int(rng.integers(100))
        k = int(rng.integers(2, n_subj + 1))
        y_missing = np.where(rng.random(y.size) < 0.2, np.nan, y.astype(float))
        X = pd.DataFrame({"x": np.zeros(groups.size)})
        folds = [
            *inner_cv(groups, y, n_splits=k, seed=seed).split(X, y, groups),
            inner_split(groups, y=y_missing, val_fraction=0.25, seed=seed),
            *inner_folds(y_missing, groups, n_splits=k, seed=seed, task="classification"),
            *inner_folds(y_missing, groups, n_splits=k, seed=seed, task="regression"),
            *grouped_cv_objective(lambda *a: 0.0, X, y, groups, n_splits=k, seed=seed).splits,
            MLPModel(validation_fraction=0.3, random_state=seed)._split(groups.size, groups),
        ]
        for train, val in folds:
            assert train.size and val.size
            assert not set(groups[train]) & set(groups[val])


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_inner_splits_keep_the_scikit_learn_folds():
    """Same folds as the scikit-learn splitters the five former inner splitters built."""
    from sklearn.model_selection import GroupKFold, GroupShuffleSplit, StratifiedGroupKFold

    rng = np.random.default_rng(5)
    groups = rng.permutation(np.repeat([f"s{i}" for i in range(9)], 4))
    y = rng.integers(0, 2, groups.size)
    X = np.zeros(groups.size)

    def same(a, b):
        return all(np.array_equal(p, q) for f, g in zip(a, b, strict=True)
                   for p, q in zip(f, g, strict=True))

    assert same(InnerGroupSplit(n_splits=4, seed=3).split(X, y, groups),
                StratifiedGroupKFold(4, shuffle=True, random_state=3).split(X, y, groups))
    assert same(InnerGroupSplit(n_splits=4, stratify=False, seed=3).split(X, y, groups),
                GroupKFold(4, shuffle=True, random_state=3).split(X, y, groups))
    assert same(InnerGroupSplit(n_splits=4, stratify=False, shuffle=False).split(X, y, groups),
                GroupKFold(4).split(X, y, groups))
    assert same(InnerGroupSplit(val_fraction=0.3, stratify=False, seed=3).split(X, y, groups),
                GroupShuffleSplit(1, test_size=0.3, random_state=3).split(X, y, groups))
    # hold-out, stratified: the first of round(1 / 0.3) = 3 stratified folds
    assert same(InnerGroupSplit(val_fraction=0.3, seed=3).split(X, y, groups),
                [next(StratifiedGroupKFold(3, shuffle=True, random_state=3).split(X, y, groups))])
    # every class rarer than the folds: scikit-learn refuses to stratify, plain folds instead
    y_rare = np.arange(groups.size)
    assert same(InnerGroupSplit(n_splits=4, seed=3).split(X, y_rare, groups),
                GroupKFold(4, shuffle=True, random_state=3).split(X, y_rare, groups))
    # 11 subjects in 11 stratified folds: scikit-learn's greedy balancing leaves fold 9 empty
    g11 = np.array(list("hgghgjdfhbaabccahchcbhekbbdgcagabecbai"))
    y11 = np.array(list("0mm00201m1m00m2m02m001m10m1012m1m12021"))
    X11 = np.zeros(g11.size)
    sgkf = StratifiedGroupKFold(11, shuffle=True, random_state=21).split(X11, y11, g11)
    assert min(test.size for _, test in sgkf) == 0
    assert same(InnerGroupSplit(n_splits=11, seed=21).split(X11, y11, g11),
                GroupKFold(11, shuffle=True, random_state=21).split(X11, y11, g11))
    with pytest.raises(ConfigError, match="n_splits must be an integer >= 2"):
        InnerGroupSplit(n_splits=1)
    with pytest.raises(ConfigError, match="val_fraction=1.5 must lie in"):
        InnerGroupSplit(val_fraction=1.5)
    with pytest.raises(ConfigError, match="needs groups="):
        list(InnerGroupSplit().split(X, y))


@pytest.mark.filterwarnings("ignore:The least populated class:UserWarning")
def test_stratified_protocol_with_missing_labels_says_so():
    groups = np.repeat(list("abcdef"), 2)
    y = np.array([0, 1] * 5 + [0, np.nan])
    with pytest.raises(ConfigError, match="stratified=True needs class labels"):
        list(make_protocol("group_kfold", n_splits=2).split(None, y, groups))
    # the inner splitter takes labels as given: missing ones must be encoded (e.g. -1)
    folds = list(InnerGroupSplit(n_splits=2).split(None, np.nan_to_num(y, nan=-1), groups))
    assert len(folds) == 2


def test_groups_required():
    with pytest.raises(ConfigError, match="groups="):
        next(make_protocol("loso").split(np.zeros(4), [0, 1, 0, 1]))
    with pytest.raises(ConfigError, match="groups has 3 entries"):
        next(make_protocol("loso").split(np.zeros(4), groups=["a", "b", "c"]))
    with pytest.raises(ConfigError, match="missing subject"):
        next(make_protocol("loso").split(np.zeros(3), groups=["a", None, "b"]))


def test_check_no_leakage_names_subjects():
    check_no_leakage(["a", "b"], ["c"])
    with pytest.raises(LeakageError, match=r"\['b', 'c'\]"):
        check_no_leakage(["a", "b", "c"], ["b", "c", "d"])


def test_predefined_split_is_leakage_checked():
    groups = np.array(["a", "a", "b", "c", "c"])
    split = np.array(["train", "test", "train", "test", "test"])  # subject a on both sides
    with pytest.raises(LeakageError, match="'a'"):
        list(make_protocol("predefined").split(np.zeros(5), groups=groups, split_labels=split))


def test_predefined_train_dev_test():
    groups = np.array(["a", "b", "c", "d", "e", "f"])
    split = np.array(["train", "train", "dev", "test", "test", np.nan], dtype=object)
    X = np.zeros(6)
    [(train, test)] = make_protocol("predefined").split(X, groups=groups, split_labels=split)
    assert train.tolist() == [0, 1] and test.tolist() == [3, 4]
    p = make_protocol("predefined", use_dev_for_training=True)
    [(train, test)] = p.split(X, groups=groups, split_labels=split)
    assert train.tolist() == [0, 1, 2] and test.tolist() == [3, 4]
    p = make_protocol("predefined", test_split="dev")
    [(train, test)] = p.split(X, groups=groups, split_labels=split)
    assert train.tolist() == [0, 1] and test.tolist() == [2]
    y = np.array([1.0, 0.0, 1.0, np.nan, np.nan, 0.0])
    with pytest.raises(ConfigError, match="test_split='dev'"):
        list(make_protocol("predefined").split(X, y, groups=groups, split_labels=split))
    with pytest.raises(ConfigError, match="split_labels"):
        list(make_protocol("predefined").split(X, groups=groups))
    with pytest.raises(ConfigError, match="contradicts"):
        make_protocol("predefined", test_split="dev", use_dev_for_training=True)


def test_stratified_kfold_is_speaker_dependent_and_partitions():
    p = make_protocol("stratified_kfold", n_splits=4)
    assert p.subject_independent is False
    assert "speaker-dependent" in p.describe()
    assert all(make_protocol(n).subject_independent for n in available_protocols()
               if n != "stratified_kfold")
    groups = np.repeat(["a", "b"], 20)  # only two speakers: every fold shares them
    y = np.tile([0, 1], 20)
    folds = list(p.split(np.zeros(40), y, groups=groups))
    assert_partition(folds, 40)
    assert any(set(groups[tr]) & set(groups[te]) for tr, te in folds)


def test_stratified_kfold_keeps_segments_of_a_recording_together():
    files = np.repeat([f"f{i}.wav" for i in range(12)], 3)
    X = pd.DataFrame({"x": np.arange(36.0)},
                     index=pd.MultiIndex.from_arrays([files, np.tile([0.0, 1.0, 2.0], 12),
                                                      np.tile([1.0, 2.0, 3.0], 12)],
                                                     names=["file", "start", "end"]))
    y = np.repeat(np.tile([0, 1], 6), 3)
    groups = np.repeat(["a", "b", "c"], 12)
    for train, test in make_protocol("stratified_kfold", n_splits=3).split(X, y, groups=groups):
        assert not set(files[train]) & set(files[test])


def test_bad_parameters():
    with pytest.raises(ConfigError, match="unknown protocol"):
        make_protocol("kfold")
    with pytest.raises(ConfigError, match="no parameter"):
        make_protocol("loso", n_splits=3)
    with pytest.raises(ConfigError, match="n_splits"):
        make_protocol("group_kfold", n_splits=1)
    with pytest.raises(ConfigError, match="exceeds the 3 subjects"):
        list(make_protocol("group_kfold", n_splits=5, stratified=False).split(
            None, groups=["a", "b", "c"]))
    with pytest.raises(ConfigError, match="stratified=False"):
        list(make_protocol("group_kfold", n_splits=2).split(
            None, [0.5, 1.5, 2.5, 3.7], groups=["a", "b", "c", "d"]))
    with pytest.raises(ConfigError, match="test_size"):
        make_protocol("holdout", test_size=1.5)
    with pytest.raises(ConfigError, match="at least 2 subjects"):
        list(make_protocol("loso").split(None, groups=["a", "a"]))


def test_holdout_subject_level_stratified_and_seeded():
    groups = np.repeat([f"s{i}" for i in range(20)], 2)
    y = np.repeat([0] * 10 + [1] * 10, 2)  # one label per subject
    p = make_protocol("holdout", test_size=0.2, seed=3)
    [(train, test)] = p.split(None, y, groups=groups)
    assert np.unique(groups[test]).size == 4
    assert np.bincount(y[test]).tolist() == [4, 4]  # 2 subjects of each class, 2 rows each
    [(train2, test2)] = p.split(None, y, groups=groups)
    np.testing.assert_array_equal(test, test2)
    tests = {tuple(next(make_protocol("holdout", seed=s).split(None, y, groups=groups))[1])
             for s in range(5)}
    assert len(tests) > 1
    with pytest.raises(ConfigError, match="stratify"):
        list(make_protocol("holdout", stratify=True).split(None, np.linspace(0, 1, 40),
                                                           groups=groups))


def test_holdout_with_several_labels_per_subject_and_with_scores():
    groups = np.repeat([f"s{i}" for i in range(10)], 6)
    y = np.tile([0, 1, 2], 20)  # every subject has all three emotions
    [(train, test)] = make_protocol("holdout", test_size=0.2).split(None, y, groups=groups)
    assert np.unique(groups[test]).size == 2  # first of 5 stratified group folds
    assert set(y[test]) == {0, 1, 2}
    scores = np.repeat(np.linspace(0, 20, 10), 6)
    [(train, test)] = make_protocol("holdout", test_size=3).split(None, scores, groups=groups)
    assert np.unique(groups[test]).size == 3 and train.size + test.size == 60


def test_loo_subjects_folds_equal_loso():
    groups = np.array(["b", "a", "c", "a"])
    loso = [t.tolist() for _, t in make_protocol("loso").split(None, groups=groups)]
    loo = [t.tolist() for _, t in make_protocol("loo_subjects").split(None, groups=groups)]
    assert loso == loo == [[1, 3], [0], [2]]
    assert make_protocol("loo_subjects").per_fold_scores is False
    assert make_protocol("loso").per_fold_scores is True


def test_protocol_works_as_sklearn_cv():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(6), 10)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    p = make_protocol("loso")
    res = cross_validate(LogisticRegression(), X, y, groups=groups, cv=p)
    assert len(res["test_score"]) == 6 == p.get_n_splits(X, y, groups)
    d = p.to_dict()
    assert d["name"] == "loso" and d["subject_independent"] is True and d["description"]


def test_inner_cv_groups_by_subject_in_grid_search():
    rng = np.random.default_rng(1)
    groups = np.repeat(["a", "b", "c", "d"], 15)
    X = rng.normal(size=(60, 2))
    y = (X[:, 0] + 0.3 * rng.normal(size=60) > 0).astype(int)
    cv = inner_cv(groups, y, n_splits=10)
    assert cv.get_n_splits() == 4  # lowered to the number of subjects
    for train, test in cv.split(X, y, groups):
        check_no_leakage(groups[train], groups[test])
    search = GridSearchCV(LogisticRegression(), {"C": [0.1, 1.0]}, cv=cv).fit(X, y, groups=groups)
    assert search.best_params_["C"] in (0.1, 1.0)
    assert isinstance(cv, InnerGroupSplit) and cv.stratify
    assert not inner_cv(groups, rng.normal(size=60)).stratify
    assert not inner_cv(groups, None).stratify  # decided here: integer scores in fit stay unstratified
    with pytest.raises(ConfigError):
        inner_cv(["a"] * 5, [0, 1, 0, 1, 0])
