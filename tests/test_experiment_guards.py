"""Guards around an experiment: probabilities that agree with decisions on imbalanced,
subject-scored labels; a constant predictor flagged; per-speaker normalisation of a
per-person label refused; inner CV without enough subjects refused before extraction."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.config import load_config
from vocalmind.corpora import write_manifest
from vocalmind.errors import ConfigError
from vocalmind.evaluation import aggregate_predictions, classification_metrics, write_report
from vocalmind.models.classical import SVMClassifier, make_classical


def _imbalanced_grouped(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60 subjects x 4 recordings, one label per subject, 12 of 60 positive; a weak signal
    in 5 of 200 dimensions (the shape of a depression screen on functionals)."""
    rng = np.random.default_rng(seed)
    subjects = np.repeat(np.arange(60), 4).astype(str)
    pos = np.repeat(np.arange(60) < 12, 4)
    X = rng.normal(size=(240, 200))
    X[:, :5] += 0.6 * pos[:, None]
    return X, np.where(pos, "depressed", "not"), subjects


def _oof(make, X, y, g):  # type: ignore[no-untyped-def]
    """Out-of-fold labels and probabilities, 5 subject-grouped folds."""
    from sklearn.model_selection import GroupKFold

    pred = np.empty(len(y), dtype=object)
    proba = np.zeros((len(y), 2))
    for tr, te in GroupKFold(5).split(X, y, g):
        m = make().fit(X[tr], y[tr])
        pred[te], proba[te] = m.predict(X[te]), m.predict_proba(X[te])
    return pred, proba, m.classes_


def _per_subject(pred, proba, classes, y, g) -> pd.DataFrame:  # type: ignore[no-untyped-def]
    seg = pd.DataFrame({"file": [f"{s}_{i}" for i, s in enumerate(g)], "subject": g,
                        "y_true": y, "y_pred": pred})
    for j, c in enumerate(classes):
        seg[f"proba_{c}"] = proba[:, j]
    return aggregate_predictions(seg, level="subject")


def test_svm_probabilities_agree_with_decisions_per_subject() -> None:
    X, y, g = _imbalanced_grouped()
    pred, proba, classes = _oof(lambda: make_classical("svm", params={"C": 0.01}), X, y, g)
    # every row: the probabilities' arg-max is the SVM's decision
    assert (classes[proba.argmax(1)] == pred).all()
    subj = _per_subject(pred, proba, classes, y, g)
    assert subj["y_pred"].nunique() == 2  # not a constant predictor
    m = classification_metrics(subj["y_true"], subj["y_pred"], n_boot=0)
    assert m["uar"] > 0.6 and m["warnings"] == []

    # the former calibration (Platt sigmoid fitted without the class weights) turns the
    # same balanced SVM into a constant predictor once averaged per subject
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    def former():  # type: ignore[no-untyped-def]
        svc = SVC(kernel="linear", C=0.01, class_weight="balanced")
        return make_pipeline(StandardScaler(), CalibratedClassifierCV(svc, ensemble=False, cv=3))

    _, p_old, c_old = _oof(former, X, y, g)
    old = _per_subject(np.array(c_old[p_old.argmax(1)], dtype=object), p_old, c_old, y, g)
    assert old["y_pred"].nunique() == 1


def test_svm_class_weights_survive_calibration() -> None:
    X, y, _ = _imbalanced_grouped(seed=1)
    bal = SVMClassifier(C=0.01, random_state=0).fit(X, y)
    flat = SVMClassifier(C=0.01, class_weight=None, random_state=0).fit(X, y)
    # balanced: the minority class gets about its share of probability mass
    share = bal.predict_proba(X)[:, list(bal.classes_).index("depressed")].mean()
    assert 0.3 < share < 0.7
    assert flat.predict_proba(X)[:, list(flat.classes_).index("depressed")].mean() < share
    # uncalibrated fits have no probabilities rather than wrong ones
    with pytest.raises(Exception, match="probability=False"):
        SVMClassifier(probability=False).fit(X, y).predict_proba(X)


def test_svm_calibration_holds_out_whole_subjects_when_it_knows_them() -> None:
    """Each speaker has its own offset: within a speaker the classes are easy, across
    speakers less so. Calibration folds that mix a speaker's recordings are fitted on
    speaker-dependent decisions and come out over-confident on new speakers."""
    from sklearn.metrics import log_loss

    rng = np.random.default_rng(3)

    def speakers(n: int, tag: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        g = np.repeat([f"{tag}{i}" for i in range(n)], 20)
        y = np.tile(np.array(["a", "b"]), 10 * n)
        X = np.repeat(rng.normal(0, 3, size=(n, 30)), 20, axis=0)  # speaker identity
        X = X + rng.normal(size=X.shape)
        X[:, 0] += 1.5 * (y == "b")
        return X, y, g

    X, y, g = speakers(12, "s")
    Xn, yn, _ = speakers(6, "new")
    grouped = SVMClassifier(C=0.1, random_state=0).fit(X, y, groups=g)
    mixed = SVMClassifier(C=0.1, random_state=0).fit(X, y)
    assert (grouped.predict(Xn) == mixed.predict(Xn)).all()  # decisions untouched
    assert grouped.temperature_ < mixed.temperature_
    assert log_loss(yn, grouped.predict_proba(Xn)) < log_loss(yn, mixed.predict_proba(Xn))
    # the runner hands the subjects to the SVM, tuned or not
    from vocalmind.config import load_config
    from vocalmind.fitting import fit_estimator, make_estimator

    for tune in (None, {"grid": {"C": [0.1, 1.0]}, "inner_splits": 2}):
        raw = {"name": "t", "corpus": {"name": "emodb", "root": "."}, "task": {"label": "emotion"},
               "features": {"set": "egemaps", "cache_dir": None},
               "model": {"name": "svm", "params": {"C": 0.1}, **({"tune": tune} if tune else {})}}
        cfg = load_config(raw=raw)
        fitted = fit_estimator(make_estimator(cfg, "classification"), X, y, g, cfg,
                               "classification")
        svm = fitted.named_steps["model"]
        ref = make_classical("svm", params={"C": svm.C}).fit(X, y, model__groups=g)
        assert svm.temperature_ == pytest.approx(ref.named_steps["model"].temperature_)


@pytest.mark.parametrize("kernel", ["linear", "rbf"])
def test_svm_multiclass_argmax_is_decision(kernel: str) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(150, 10))
    y = np.array(list("abc") * 50)
    X[y == "b", 0] += 1.5
    X[y == "c", 1] += 1.5
    clf = SVMClassifier(kernel=kernel, random_state=0).fit(X, y)
    p = clf.predict_proba(X)
    assert np.allclose(p.sum(1), 1) and (clf.classes_[p.argmax(1)] == clf.predict(X)).all()
    with pytest.raises(ConfigError, match="libsvm"):
        SVMClassifier(kernel="rbf", solver="liblinear").fit(X, y)


def test_constant_predictor_flagged_in_metrics_and_report(tmp_path: Path) -> None:
    y = np.array(["a", "b"] * 10)
    g = np.repeat(np.arange(10), 2).astype(str)
    m = classification_metrics(y, np.array(["a"] * 20), groups=g, n_boot=20)
    assert len(m["warnings"]) == 1 and "constant predictor" in m["warnings"][0]
    preds = pd.DataFrame({"subject": g, "y_true": y, "y_pred": "a"})
    m.update({"protocol": "loso", "subject_independent": True})
    write_json_ok = write_report(tmp_path, metrics=m, predictions=preds, config={}, title="t")
    text = write_json_ok.read_text()
    assert text.count("constant predictor") == 1  # metrics' and report's text shown once
    # a varied predictor gives no warning
    assert classification_metrics(y, y[::-1], n_boot=0)["warnings"] == []
    from vocalmind.evaluation import regression_metrics

    r = regression_metrics(np.arange(10.0), np.full(10, 3.0), n_boot=0)
    assert "constant predictor" in r["warnings"][0]


def _raw(manifest: Path, **over: object) -> dict:
    raw = {"name": "t", "jobs": 1, "corpus": {"manifest": str(manifest)},
           "task": {"label": "emotion"},
           "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
           "model": {"name": "svm", "tune": {"grid": {"C": [0.01, 1.0]}}},
           "protocol": {"name": "loso"}, "evaluation": {"n_boot": 50}}
    raw.update(over)
    return raw


@pytest.fixture
def no_extraction(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any extraction fails the test: the guards must act before it."""
    import vocalmind.experiment as ex

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("extraction started")

    monkeypatch.setattr(ex, "build_inputs", boom)


def test_speaker_normalisation_of_a_per_person_label_is_refused(
        tone_cohort: pd.DataFrame, tmp_path: Path, no_extraction: None) -> None:
    from vocalmind.experiment import run_experiment

    path = write_manifest(tone_cohort, tmp_path / "m.csv")
    raw = _raw(path, task={"label": "gender"},  # one value per speaker
               features={"set": "egemaps", "cache_dir": None, "speaker_normalization": True})
    with pytest.raises(ConfigError, match="constant within every subject.*speaker_normalization: false"):
        run_experiment(load_config(raw=raw), out=tmp_path / "run")
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists()
    # a label that varies within speakers is what per-speaker normalisation is for
    from vocalmind.experiment import check_speaker_normalisation

    cfg = load_config(raw=_raw(path, features={"set": "egemaps",
                                               "speaker_normalization": True}))
    check_speaker_normalisation(cfg, tone_cohort)


def test_loso_on_two_speakers_with_tuning_fails_early(
        tone_cohort: pd.DataFrame, tmp_path: Path, no_extraction: None) -> None:
    from vocalmind.experiment import run_experiment

    two = tone_cohort[tone_cohort["subject"].isin(["S0", "S1"])]
    path = write_manifest(two, tmp_path / "m.csv")
    with pytest.raises(ConfigError) as e:
        run_experiment(load_config(raw=_raw(path)), out=tmp_path / "run")
    msg = str(e.value)
    assert "inner cross-validation" in msg and ">= 2 training subjects" in msg
    assert "fold 0 trains on 1" in msg and "model.params" in msg


def test_speaker_normalization_recorded_for_deep_families(tmp_path: Path) -> None:
    from vocalmind.experiment import speaker_normalised

    path = tmp_path / "m.csv"
    for norm in (True, False):
        cfg = load_config(raw=_raw(path, model={"name": "cnn_lstm",
                                                "params": {"speaker_norm": norm}}))
        assert speaker_normalised(cfg) is norm
    cfg = load_config(raw=_raw(path, features={"set": "egemaps",
                                               "speaker_normalization": True}))
    assert speaker_normalised(cfg) is True


def test_metrics_json_carries_the_warnings(tone_cohort: pd.DataFrame, tmp_path: Path) -> None:
    """A model that cannot separate anything (a constant feature set would be contrived;
    random labels with a strong regulariser do it) is flagged in metrics.json."""
    from vocalmind.experiment import run_experiment

    df = tone_cohort.copy()
    # label = speaker parity: no acoustic signal in a tone's class; C tiny -> one class
    df["emotion"] = np.where(df["subject"].isin(["S0", "S1"]), "x", "y")
    path = write_manifest(df, tmp_path / "m.csv")
    raw = _raw(path, model={"name": "logreg", "params": {"C": 1e-9, "class_weight": None}},
               protocol={"name": "loso"})
    res = run_experiment(load_config(raw=raw), out=tmp_path / "run")
    m = json.loads((res.run_dir / "metrics.json").read_text())
    assert any("constant predictor" in w for w in m["warnings"])


@pytest.mark.parametrize("n_classes", [2, 4])
def test_linear_svm_on_a_shared_gram_matrix_equals_libsvm_linear(n_classes: int) -> None:
    """The precomputed-Gram path gives libsvm's linear-kernel decisions, dense or sparse,
    and one Gram matrix serves every C of the same rows."""
    import scipy.sparse as sp
    from sklearn.svm import SVC

    from vocalmind.models.classical import linear_gram

    rng = np.random.default_rng(3)
    X = rng.normal(size=(90, 300))
    y = np.array(list("abcd"[:n_classes]) * 90)[:90]
    X[:, 0] += (y == "a") * 1.0
    Xt = rng.normal(size=(20, 300))
    for C in (0.001, 1.0):
        ref = SVC(kernel="linear", C=C, class_weight="balanced", break_ties=True).fit(X, y)
        for data, test in ((X, Xt), (sp.csr_matrix(X), sp.csr_matrix(Xt))):
            m = SVMClassifier(C=C, random_state=0).fit(data, y)
            assert m.solver_ == "libsvm-gram"
            np.testing.assert_allclose(m.decision_function(test), ref.decision_function(Xt),
                                       atol=1e-9)
            assert (m.predict(test) == ref.predict(Xt)).all()
    assert linear_gram(X.copy()) is linear_gram(X)  # equal content: computed once
    assert SVMClassifier(solver="liblinear").fit(X, y).solver_ == "liblinear"
