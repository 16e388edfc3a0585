"""`analyze correlate` and `analyze change` on synthetic feature tables and manifests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from typer.testing import CliRunner

from vocalmind.cli.analyze import app

runner = CliRunner()


def _tables(tmp_path: Path, n_subjects: int = 24) -> tuple[Path, Path]:
    """Two sessions x two segments per subject; 'tense' drops after therapy, 'pitch' tracks
    PHQ-9; start/end are NaN (whole file) for one segment, as the manifest allows."""
    rng = np.random.default_rng(4)
    man, feats = [], []
    for s in range(n_subjects):
        phq = {"pre": float(rng.integers(5, 27)), "post": float(rng.integers(0, 10))}
        gender, age = rng.choice(["f", "m"]), float(rng.integers(18, 25))
        tense = rng.normal(5, 1)
        for session in ("pre", "post"):
            for start, end in [(np.nan, np.nan), (0.5, 2.25)]:
                file = f"/data/s{s:02d}_{session}.wav"
                man.append({"file": file, "start": start, "end": end, "subject": f"s{s:02d}",
                            "session": session, "gender": gender, "age": age, "phq9": phq[session]})
                feats.append({
                    "file": file, "start": start, "end": end,
                    "pitch": phq[session] + rng.normal(0, 1.5),
                    "tense": tense - (1.5 if session == "post" else 0) + rng.normal(0, 0.3),
                    "noise": rng.normal(), "subject": "ignored: manifest wins",
                })
    pd.DataFrame(man).to_csv(tmp_path / "manifest.csv", index=False)
    pd.DataFrame(feats).set_index(["file", "start", "end"]).to_parquet(tmp_path / "feats.parquet")
    return tmp_path / "feats.parquet", tmp_path / "manifest.csv"


def test_correlate_prints_top_results_and_never_pools_tasks_silently(tmp_path: Path) -> None:
    feats, man = _tables(tmp_path)
    out = tmp_path / "corr"
    res = runner.invoke(app, ["correlate", "--features", str(feats), "--manifest", str(man),
                              "--score", "phq9", "-o", str(out), "--show", "3"])
    assert res.exit_code == 0, res.output
    # each subject has a pre and a post session: analysed separately, and said so
    assert "analysed each session separately" in res.output
    table = pd.read_csv(out / "correlations.csv")
    assert set(table["task"]) == {"pre", "post"} and len(table) == 6
    summary = json.loads((out / "summary.json").read_text())
    assert summary["analysed_separately_by"] == "session"
    assert summary["n_units"] == {"post": 24, "pre": 24}
    # the strongest results are in the terminal, not only in files
    assert "strongest 3 of 6 correlations" in res.output and "pitch" in res.output
    bad = runner.invoke(app, ["correlate", "--features", str(feats), "--manifest", str(man),
                              "-o", str(out), "--by", "nosuch"])
    assert bad.exit_code != 0 and "not a manifest column" in bad.output


def test_correlate_marks_features_above_the_nyquist_of_8khz_audio(tmp_path: Path) -> None:
    import soundfile as sf

    rng = np.random.default_rng(0)
    man, feats = [], []
    for s in range(12):
        file = tmp_path / f"call{s}.wav"
        sf.write(file, rng.normal(0, 0.1, 800).astype("float32"), 8000)  # telephone audio
        phq = float(s * 2)
        man.append({"file": str(file), "subject": f"s{s}", "phq9": phq})
        feats.append({"file": str(file), "start": np.nan, "end": np.nan,
                      "hammarbergIndexV_sma3nz_amean": rng.normal(),
                      "loudness_sma3_amean": phq + rng.normal()})
    pd.DataFrame(man).to_csv(tmp_path / "m.csv", index=False)
    pd.DataFrame(feats).to_csv(tmp_path / "f.csv", index=False)
    res = runner.invoke(app, ["correlate", "--features", str(tmp_path / "f.csv"), "--manifest",
                              str(tmp_path / "m.csv"), "-o", str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert "8000 Hz" in res.output and "hammarbergIndexV_sma3nz_amean" in res.output
    table = pd.read_csv(tmp_path / "out" / "correlations.csv").set_index("feature")
    assert table.loc["hammarbergIndexV_sma3nz_amean", "above_nyquist"]
    assert not table.loc["loudness_sma3_amean", "above_nyquist"]


def test_correlate_writes_table_heatmap_and_summary(tmp_path: Path) -> None:
    feats, man = _tables(tmp_path)
    out = tmp_path / "corr"
    res = runner.invoke(app, ["correlate", "--features", str(feats), "--manifest", str(man),
                              "--score", "phq9", "--covariates", "gender,age", "-o", str(out),
                              "--by", "none"])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "correlations.csv")
    assert set(table["feature"]) == {"pitch", "tense", "noise"}
    assert table.loc[0, "feature"] == "pitch" and table.loc[0, "p_fdr"] < 0.01
    assert (out / "heatmap.png").read_bytes()[:4] == b"\x89PNG"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_units"] == 24 and summary["unit"] == "subject"
    assert summary["covariates"] == ["gender", "age"] and "not a diagnosis" in summary["note"]
    rows = runner.invoke(app, ["correlate", "--features", str(feats), "--manifest", str(man),
                               "--unit", "row", "-o", str(tmp_path / "rows"), "--by", "none"])
    assert rows.exit_code == 0, rows.output
    assert json.loads((tmp_path / "rows" / "summary.json").read_text())["n_units"] == 96


def test_change_pairs_subjects_and_finds_the_drop(tmp_path: Path) -> None:
    feats, man = _tables(tmp_path)
    csv_feats = tmp_path / "feats.csv"
    pd.read_parquet(feats).reset_index().to_csv(csv_feats, index=False)
    out = tmp_path / "change"
    res = runner.invoke(app, ["change", "--features", str(csv_feats), "--manifest", str(man),
                              "--before", "pre", "--after", "post", "--plots", "2", "-o", str(out)])
    assert res.exit_code == 0, res.output
    table = pd.read_csv(out / "change.csv").set_index("feature")
    assert table.loc["tense", "significant"] and table.loc["tense", "mean_diff"] < 0
    assert not table.loc["noise", "significant"]
    assert (table["n"] == 24).all()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_pairs"] == 24
    assert "tense" in [r["feature"] for r in summary["significant"]]
    for name in summary["plots"]:
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert len(summary["plots"]) == 3


def test_bad_input_fails_clearly_without_outputs(tmp_path: Path) -> None:
    feats, man = _tables(tmp_path, n_subjects=6)
    out = tmp_path / "bad"
    res = runner.invoke(app, ["change", "--features", str(feats), "--manifest", str(man),
                              "--before", "baseline", "--after", "post", "-o", str(out)])
    assert res.exit_code == 1 and "baseline" in res.output
    assert not out.exists()
    res = runner.invoke(app, ["correlate", "--features", str(feats), "--manifest", str(man),
                              "--score", "hamd17", "-o", str(out)])
    assert res.exit_code == 1 and "hamd17" in res.output
    nokey = tmp_path / "nokey.csv"
    pd.DataFrame({"x": [1.0]}).to_csv(nokey, index=False)
    res = runner.invoke(app, ["correlate", "--features", str(nokey), "--manifest", str(man), "-o", str(out)])
    assert res.exit_code == 1 and "key columns" in res.output


def test_change_accepts_numeric_session_ids(tmp_path: Path) -> None:
    feats, man = _tables(tmp_path, n_subjects=8)
    m = pd.read_csv(man)
    m["session"] = m["session"].map({"pre": 1.0, "post": 2.0})
    m.loc[0, "session"] = np.nan  # one segment without a session: a float column in the CSV
    m.to_csv(man, index=False)
    out = tmp_path / "num"
    res = runner.invoke(app, ["change", "--features", str(feats), "--manifest", str(man),
                              "--before", "1", "--after", "2", "--plots", "0", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "summary.json").read_text())["n_pairs"] == 8
