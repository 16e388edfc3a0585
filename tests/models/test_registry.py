"""The model-family registry: one place for each family's kind, input, tasks, defaults and
estimator factory, used by the config checks, the runner and the config reference."""

from __future__ import annotations

import pytest

from vocalmind.errors import ConfigError
from vocalmind.models import MODEL_FAMILIES, get_family, list_models


@pytest.mark.parametrize("name", sorted(MODEL_FAMILIES))
def test_every_family_builds_an_estimator_from_its_defaults(name: str) -> None:
    fam = get_family(name)
    defaults = fam.defaults()
    assert set(defaults) <= fam.param_names()
    params = {"encoder_path": "whisper:base"} if name == "ssl_attention" else {}
    task = fam.task or "classification"
    est = fam.make_estimator(task, params=params, seed=3)
    assert hasattr(est, "fit") and hasattr(est, "predict")
    if fam.deep:
        assert est.family == name and est.task == task and est.seed == 3
    else:  # a scikit-learn pipeline whose last step is the model
        assert est.steps[-1][0] == "model"


def test_kinds_blocks_and_single_tasks() -> None:
    assert get_family("svr").task == "regression" and get_family("svm").task == "classification"
    assert get_family("mlp").task is None and get_family("cnn_lstm").task is None
    assert get_family("svm").blocks == {"tune"} and get_family("mlp").blocks == set()
    assert get_family("wavelet").blocks == {"training", "pretrain", "search"}
    assert [f.name for f in list_models() if f.deep] == [
        "melcnn", "cnn_lstm", "wavelet", "ssl_attention"]
    assert get_family("svm").defaults()["class_weight"] == "balanced"
    assert get_family("cnn_lstm").defaults()["n_mels"] == 40  # a data setting


def test_registry_refuses_a_task_or_training_the_family_has_not() -> None:
    with pytest.raises(ConfigError, match="does not do regression"):
        get_family("svm").make_estimator("regression")
    with pytest.raises(ConfigError, match="takes no model.training"):
        get_family("ridge").make_estimator("regression", epochs=3)
