"""The run-folder format: model cards hash every model file; changes are refused by name."""

from __future__ import annotations

import json
from pathlib import Path

import joblib
import pytest
from sklearn.dummy import DummyClassifier

from vocalmind.errors import ModelError, ModelIntegrityError
from vocalmind.runs import load_model, verify_model_dir, write_model_card


@pytest.fixture
def run(tmp_path: Path) -> Path:
    model_dir = tmp_path / "run" / "model"
    model_dir.mkdir(parents=True)
    joblib.dump(DummyClassifier().fit([[0], [1]], ["a", "b"]), model_dir / "model.joblib")
    (model_dir / "training").mkdir()
    (model_dir / "training" / "curve.png").write_bytes(b"not hashed")
    write_model_card(model_dir, {"kind": "sklearn", "model": "svm"})
    return tmp_path / "run"


def test_card_hashes_model_files_only(run: Path) -> None:
    card = json.loads((run / "model" / "model.json").read_text())
    assert list(card["files"]) == ["model.joblib"]
    assert len(card["files"]["model.joblib"]) == 64
    est, info = load_model(run)
    assert info["model"] == "svm" and est.predict([[0]]).tolist() == ["a"]
    # training artefacts may change (they are never loaded)
    (run / "model" / "training" / "curve.png").write_bytes(b"other")
    verify_model_dir(run)


def test_swapped_model_file_is_refused_by_name(run: Path) -> None:
    joblib.dump(DummyClassifier(strategy="uniform").fit([[0], [1]], ["a", "b"]),
                run / "model" / "model.joblib")
    with pytest.raises(ModelIntegrityError, match=r"model\.joblib: changed since the model"):
        load_model(run)


def test_missing_added_and_unlisted_files(run: Path) -> None:
    (run / "model" / "recipe.joblib").write_bytes(b"x")
    with pytest.raises(ModelIntegrityError, match=r"recipe\.joblib: not listed"):
        verify_model_dir(run)
    (run / "model" / "recipe.joblib").unlink()
    (run / "model" / "model.joblib").unlink()
    with pytest.raises(ModelIntegrityError, match=r"model\.joblib: missing"):
        load_model(run)


@pytest.mark.parametrize("content", [b"", b'{"kind": "skl', b"\x00\xff" * 50, b"[1, 2]"])
def test_broken_card_is_a_clear_error(run: Path, content: bytes) -> None:
    (run / "model" / "model.json").write_bytes(content)
    with pytest.raises(ModelIntegrityError, match=r"model\.json: not (valid JSON|a vocalmind)"):
        load_model(run)


@pytest.mark.parametrize("content", [b"", b"\x80\x04\x95", b"random bytes" * 10])
def test_broken_model_file_rehashed_is_a_clear_error(run: Path, content: bytes) -> None:
    (run / "model" / "model.joblib").write_bytes(content)
    write_model_card(run / "model")  # even with a matching hash it cannot be loaded
    with pytest.raises(ModelIntegrityError, match=r"model\.joblib: cannot be loaded"):
        load_model(run)


def test_not_a_run_folder_and_old_cards(tmp_path: Path, run: Path) -> None:
    with pytest.raises(ModelError, match="not a finished run folder"):
        load_model(tmp_path / "nothing")
    card = json.loads((run / "model" / "model.json").read_text())
    del card["files"]
    (run / "model" / "model.json").write_text(json.dumps(card))
    with pytest.raises(ModelIntegrityError, match="lists no file hashes"):
        load_model(run)
