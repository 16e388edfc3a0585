"""Outputs: permissions follow the umask, unwritable places fail before any work, and
progress is logged line by line when standard error is not a terminal."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from vocalmind.errors import ConfigError
from vocalmind.files import check_writable, write_json, write_table, write_text


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_written_files_respect_the_umask(mask: int, mode: int, tmp_path: Path) -> None:
    old = os.umask(mask)
    try:
        paths = [write_text(tmp_path / "a.txt", "x"), write_json(tmp_path / "b.json", {"a": 1}),
                 write_table(pd.DataFrame({"a": [1]}), tmp_path / "c.csv")]
    finally:
        os.umask(old)
    for p in paths:
        assert stat.S_IMODE(p.stat().st_mode) == mode, p
    assert not list(tmp_path.glob(".*.part"))  # still written by rename


def test_unwritable_places_are_named(tmp_path: Path) -> None:
    afile = tmp_path / "afile"
    afile.write_text("")
    with pytest.raises(ConfigError, match="is a file, not a folder"):
        check_writable(afile / "out.parquet", what="--output")
    with pytest.raises(ConfigError, match="is a folder"):
        check_writable(tmp_path, what="--output")
    with pytest.raises(ConfigError, match="cannot be written"):
        check_writable("/proc/vocalmind-nowhere/out.csv")
    assert check_writable(tmp_path / "new" / "x.csv").parent.is_dir()


def test_features_output_checked_before_extraction(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import vocalmind.features.extract as fx
    from vocalmind.cli import app

    def boom(*a: object, **k: object) -> None:
        raise AssertionError("extraction started")

    monkeypatch.setattr(fx, "extract_features", boom)
    afile = tmp_path / "afile"
    afile.write_text("")
    res = CliRunner().invoke(app, ["features", "extract", str(afile), "-o",
                                   str(afile / "f.parquet")])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "is a file, not a folder" in " ".join(res.output.split())


def test_run_folder_checked_before_extraction(tone_cohort: pd.DataFrame, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import vocalmind.experiment as ex
    from vocalmind.config import load_config
    from vocalmind.corpora import write_manifest

    monkeypatch.setattr(ex, "build_inputs", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("extraction started")))
    path = write_manifest(tone_cohort, tmp_path / "m.csv")
    afile = tmp_path / "afile"
    afile.write_text("")
    cfg = load_config(raw={"name": "t", "corpus": {"manifest": str(path)},
                           "task": {"label": "emotion"}, "model": {"name": "logreg"},
                           "features": {"set": "egemaps", "cache_dir": None}})
    with pytest.raises(ConfigError, match="run folder .* is a file, not a folder"):
        ex.run_experiment(cfg, out=afile / "run")


def test_progress_logs_a_line_per_step_off_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    from rich.console import Console

    from vocalmind.progress import LineProgress, progress_bar

    monkeypatch.setenv("VOCALMIND_PROGRESS_INTERVAL", "0")
    buf = io.StringIO()
    with progress_bar(console=Console(file=buf), transient=True) as bar:
        assert isinstance(bar, LineProgress)
        task = bar.add_task("compare features", total=4)
        for _ in range(4):
            bar.advance(task)
            assert buf.getvalue().count("\n") >= 1  # written as it goes, not at the end
    lines = buf.getvalue().splitlines()
    assert len(lines) == 4 and "compare features: 1/4 (25 %)" in lines[0]
    assert lines[-1].endswith("elapsed") and "4/4 (100 %)" in lines[-1]
    # throttled: fast steps are folded together, the last one always logged
    monkeypatch.setenv("VOCALMIND_PROGRESS_INTERVAL", "60")
    buf = io.StringIO()
    with progress_bar(console=Console(file=buf)) as bar:
        task = bar.add_task("x", total=100)
        for _ in range(100):
            bar.advance(task)
    assert len(buf.getvalue().splitlines()) == 2
    # disabled progress stays silent; a terminal gets rich's live bar
    buf = io.StringIO()
    with progress_bar(console=Console(file=buf), disable=True) as bar:
        bar.advance(bar.add_task("x", total=2))
    assert buf.getvalue() == ""
    assert not isinstance(progress_bar(console=Console(file=io.StringIO(), force_terminal=True)),
                          LineProgress)
