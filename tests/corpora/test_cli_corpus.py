"""The `vocalmind corpus` commands on a look-alike EMO-DB tree."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from vocalmind.cli.corpus import app

runner = CliRunner()


@pytest.fixture
def emodb(tmp_path, wav, broken):
    for name in ["03a01Wa.wav", "03a02Wb.wav", "08a01Na.wav"]:
        wav(tmp_path / "emodb" / "wav" / name, seconds=0.5)
    broken(tmp_path / "emodb" / "wav" / "09b03Ta.wav")
    return tmp_path / "emodb"


def test_list():
    r = runner.invoke(app, ["list"])
    assert r.exit_code == 0, r.output
    for name in ("emodb", "daicwoz", "androids", "csv"):
        assert name in r.stdout


def test_info_json_is_one_object(emodb, tmp_path):
    r = runner.invoke(app, ["info", "--corpus", "emodb", "--root", str(emodb), "--json",
                            "--plots", str(tmp_path / "plots")])
    assert r.exit_code == 0, r.output
    obj = json.loads(r.stdout)
    assert (obj["files"], obj["subjects"]) == (3, 2)
    assert obj["duration_s"] == pytest.approx(1.5, abs=1e-3)
    assert obj["labels"]["emotion"] == {"anger": 2, "neutral": 1}
    assert len(obj["failures"]) == 1 and len(obj["plots"]) == 3


def test_info_table(emodb):
    r = runner.invoke(app, ["info", "-c", "emodb", "-r", str(emodb)])
    assert r.exit_code == 0, r.output
    assert "subjects" in r.stdout and "anger: 2" in r.stdout


def test_manifest_written_and_failures_reported(emodb, tmp_path):
    out = tmp_path / "out" / "m.parquet"
    r = runner.invoke(app, ["manifest", "--corpus", "emodb", "--root", str(emodb), "-o", str(out)])
    assert r.exit_code == 0, r.output
    df = pd.read_parquet(out)
    assert len(df) == 3 and set(df["emotion"]) == {"anger", "neutral"}
    assert "1 skipped" in r.stderr and "09b03Ta.wav" in r.stderr


def test_options_and_errors(tmp_path, wav):
    wav(tmp_path / "r" / "Actor_01" / "03-02-05-02-01-01-01.wav")
    r = runner.invoke(app, ["info", "-c", "ravdess", "-r", str(tmp_path / "r"), "--json",
                            "-O", "channel=song"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["files"] == 1
    bad = runner.invoke(app, ["manifest", "-c", "emodb", "-r", str(tmp_path / "nowhere"),
                              "-o", str(tmp_path / "x.csv")])
    assert bad.exit_code == 2 and "does not look like the emodb corpus" in bad.stderr
    assert not (tmp_path / "x.csv").exists()


def test_corpus_folds_writes_emobox_files_that_run_back(tmp_path, wav):
    import numpy as np

    from vocalmind.corpora.readers import read_corpus
    from vocalmind.evaluation import make_protocol

    for spk in ("DC", "JE", "JK", "KL"):
        for name in ("a01", "n01", "sa02"):
            wav(tmp_path / "savee" / "AudioData" / spk / f"{name}.wav")
    out = tmp_path / "folds"
    res = runner.invoke(app, ["folds", "--corpus", "savee", "--root", str(tmp_path / "savee"),
                              "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert "4 subject-independent folds (8 files)" in " ".join(res.output.split())
    first = json.loads((out / "fold_1" / "savee_test_fold_1.jsonl").read_text().splitlines()[0])
    assert first["speaker"] == "DC" and first["emo"] in {"anger", "neutral", "sadness"}
    df = read_corpus("savee", tmp_path / "savee")
    back = list(make_protocol("fold_file", path=str(out)).split(df, groups=df["subject"]))
    assert [sorted(set(df["subject"].to_numpy()[te])) for _, te in back] == [["DC"], ["JE"], ["JK"], ["KL"]]
    assert np.concatenate([te for _, te in back]).size == len(df)
