from pathlib import Path

import pytest

from vocalmind.config import apply_overrides, load_config
from vocalmind.errors import ConfigError

BASE = {"corpus": {"manifest": "m.csv"}, "task": {"label": "emotion"}, "model": {"name": "svm"}}


def test_unknown_key_names_the_key_and_suggests(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("corpus: {manifest: m.csv}\ntask: {label: emotion}\nmodel: {name: svm, parms: {}}\n")
    with pytest.raises(ConfigError, match=r"model\.parms: unknown key \(did you mean 'params'\?\)"):
        load_config(p)


def test_wrong_type_and_missing_source() -> None:
    with pytest.raises(ConfigError, match="seed"):
        load_config(raw={**BASE, "seed": "abc"})
    with pytest.raises(ConfigError, match="corpus.root"):
        load_config(raw={**BASE, "corpus": {"name": "emodb"}})


def test_overrides_are_validated_like_the_file() -> None:
    cfg = load_config(raw=BASE, overrides=["protocol.name=group_kfold", "model.tune.grid.C=[0.1, 1]"])
    assert cfg.protocol.name == "group_kfold"
    assert cfg.model.tune is not None and cfg.model.tune.grid == {"C": [0.1, 1]}
    with pytest.raises(ConfigError, match="protocol.name"):
        load_config(raw=BASE, overrides=["protocol.name=random_split"])
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_overrides({}, ["nonsense"])


def test_examples_validate() -> None:
    examples = sorted((Path(__file__).parents[1] / "examples").glob("*.yaml"))
    assert any("emodb-egemaps-svm" in p.name for p in examples)
    assert any("emodb-compare-svm" in p.name for p in examples)
    for p in examples:
        load_config(p, overrides=["corpus.root=/somewhere"])


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)


BAD_CONFIGS = [
    ({"model": {"name": "cnn_lstm", "training": {"epochz": 3}}},
     r"model\.training\.epochz: unknown training setting \(did you mean 'epochs'\?\)"),
    ({"protocol": {"name": "group_kfold", "params": {"n_split": 3}}},
     r"protocol\.params: protocol 'group_kfold' has no parameter\(s\) \['n_split'\]"),
    ({"model": {"name": "melcnn", "search": {"space": {"lr": {"type": "loguniform",
                                                              "low": 0, "high": 1}}}}},
     r"model\.search\.space: .*lr"),
    ({"features": {"preprocess": {"keep_speech": True}}},
     r"features\.preprocess.*keep_speech.*needs a detector"),
    ({"features": {"set": "egemapz"}},
     r"features\.set: unknown feature set 'egemapz' \(did you mean 'egemaps'\?\)"),
    ({"model": {"name": "svmm"}}, r"model\.name: unknown model 'svmm' \(did you mean 'svm'\?\)"),
    ({"model": {"name": "svm", "search": {"space": {"C": {"type": "float", "low": 0.1,
                                                          "high": 1}}}}},
     r"model\.search: not used by model 'svm' \(classical\)"),
    ({"model": {"name": "svm", "pretrain": {"label": "phq9"}}},
     r"model\.pretrain: not used by model 'svm'"),
    ({"model": {"name": "svm", "training": {"epochs": 3}}},
     r"model\.training: not used by model 'svm'"),
    ({"model": {"name": "svm", "params": {"c": 1.0}}},
     r"model\.params\.c: 'svm' has no parameter 'c' \(did you mean 'C'\?\)"),
    ({"model": {"name": "svm", "tune": {"grid": {"gama": [1, 2]}}}},
     r"model\.tune\.grid\.gama: .*did you mean 'gamma'"),
    ({"model": {"name": "melcnn", "tune": {"grid": {"lr": [1]}}}},
     r"model\.tune: not used by model 'melcnn'"),
    ({"features": {"preprocess": {"normalize": "peak", "peak_db": 3}}},
     r"features\.preprocess.*peak_db=3\.0 must be <= 0"),
    ({"quality": {"min_snr": 3}}, r"quality: unknown quality gate"),
    ({"model": {"name": "mlp", "params": {"space": {"nodez": [8]}}}},
     r"model\.params\.space: search space key 'nodez' is not an MLPModel parameter"),
    ({"model": {"name": "melcnn", "params": {"n_block": 3}}},
     r"model\.params\.n_block: 'melcnn' has no parameter 'n_block' \(did you mean 'n_blocks'\?\)"),
    ({"model": {"name": "mlp", "params": {"n_trial": 3}}},
     r"model\.params\.n_trial: 'mlp' has no parameter 'n_trial' \(did you mean 'n_trials'\?\)"),
    # values a deep family's network or data pipeline rejects: found at load, not when the
    # first fold builds its model
    ({"model": {"name": "wavelet", "params": {"frontend": "mel"}}},
     r"model\.params: model 'wavelet': WaveletNet: frontend='mel'"),
    ({"model": {"name": "wavelet", "params": {"frontend": "energy", "hop_ms": 0}}},
     r"model\.params: .*hop_ms=0 must be in \(0, 1000\]"),
    ({"model": {"name": "wavelet", "params": {"depth": 9}}},
     r"model\.params: .*LearnableWPT: depth=9"),
    ({"model": {"name": "melcnn", "params": {"dropout": 1.5}}},
     r"model\.params: model 'melcnn': MelCNN: dropout=1\.5"),
    ({"model": {"name": "cnn_lstm", "params": {"channels": -4}}},
     r"model\.params: "),
    ({"model": {"name": "cnn_lstm", "params": {"segment_s": 0}}},
     r"model\.params: cnn_lstm: segment_s=0 must be > 0 seconds"),
]


@pytest.mark.parametrize(("over", "message"), BAD_CONFIGS)
def test_whole_config_is_validated_at_load(over: dict, message: str) -> None:
    raw = {**BASE, **{k: v for k, v in over.items()}}
    with pytest.raises(ConfigError, match=message):
        load_config(raw=raw)


def test_deep_families_are_built_at_load_except_those_with_pretrained_weights(monkeypatch
                                                                             ) -> None:
    import vocalmind.models as models

    built: list[str] = []
    real = models.build_model

    def spy(name, **kw):
        built.append(name)
        return real(name, **kw)

    monkeypatch.setattr(models, "build_model", spy)
    cfg = load_config(raw={**BASE, "model": {"name": "wavelet", "params": {"depth": 2}}})
    assert cfg.model.params == {"depth": 2} and built == ["wavelet"]
    # ssl_attention's network loads its encoder's weights when built: not at load
    load_config(raw={**BASE, "model": {"name": "ssl_attention",
                                       "params": {"encoder_path": "/no/such/folder"}}})
    assert built == ["wavelet"]


def test_peak_db_is_settable_from_yaml() -> None:
    cfg = load_config(raw={**BASE, "features": {"preprocess": {"normalize": "peak",
                                                               "peak_db": -3}}})
    assert cfg.features.preprocess.peak_db == -3.0
