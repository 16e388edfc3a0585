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
