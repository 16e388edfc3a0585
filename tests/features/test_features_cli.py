"""`vocalmind features` commands, run through typer's CliRunner on the group's own app."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from vocalmind.cli.features import app

runner = CliRunner()


def test_list_shows_the_sets() -> None:
    result = runner.invoke(app, ["list"])
    assert result.exit_code == 0, result.output
    for name, n in (("egemaps", "88"), ("compare", "6373"), ("is09", "384")):
        line = next(ln for ln in result.output.splitlines() if f" {name} " in ln)
        assert n in line


def test_extract_files_to_csv_with_failure_summary(tone_files: list[Path], bad_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "feats.csv"
    args = ["extract", *map(str, tone_files), str(bad_file), "--set", "logmel", "-p", "n_mels=16",
            "-o", str(out), "--max-failures", "0.5", "--normalize", "peak", "-q"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out)
    assert list(table.columns[:3]) == ["file", "start", "end"] and table.shape == (5, 3 + 32)
    assert "1 failed" in " ".join(result.output.split())
    failures = pd.read_csv(tmp_path / "feats.failures.csv")
    assert list(failures["file"]) == [str(bad_file)]


def test_extract_manifest_to_parquet_with_cache(tone_files: list[Path], tmp_path: Path) -> None:
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"file": map(str, tone_files), "subject": "s", "start": 0.0, "end": 0.5}).to_csv(manifest, index=False)
    out = tmp_path / "feats.parquet"
    args = ["extract", "--manifest", str(manifest), "--set", "egemaps", "-o", str(out), "--cache", str(tmp_path / "c"), "-q"]
    assert runner.invoke(app, args).exit_code == 0
    second = runner.invoke(app, args)
    assert "5 from cache" in " ".join(second.output.split())
    table = pd.read_parquet(out)
    assert table.shape == (5, 3 + 88) and (table["end"] == 0.5).all()


def test_too_many_failures_exits_nonzero_and_keeps_no_output(bad_file: Path, tone_files: list[Path], tmp_path: Path) -> None:
    out = tmp_path / "feats.csv"
    result = runner.invoke(app, ["extract", str(tone_files[0]), str(bad_file), "--set", "egemaps", "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert "too many failures" in " ".join(result.output.split())
    assert not out.exists()


def test_argument_errors(tmp_path: Path, tone_files: list[Path]) -> None:
    assert runner.invoke(app, ["extract", "--set", "egemaps", "-o", str(tmp_path / "x.csv")]).exit_code != 0
    bad_out = runner.invoke(app, ["extract", str(tone_files[0]), "-o", str(tmp_path / "x.txt")])
    assert bad_out.exit_code != 0
    bad_set = runner.invoke(app, ["extract", str(tone_files[0]), "--set", "nope", "-o", str(tmp_path / "x.csv")])
    assert bad_set.exit_code == 2 and "unknown feature set" in " ".join(bad_set.output.split())
    bad_vad = runner.invoke(app, ["extract", str(tone_files[0]), "--vad", "magic", "-o", str(tmp_path / "x.csv")])
    assert bad_vad.exit_code == 2 and "vad_trim" in " ".join(bad_vad.output.split())
