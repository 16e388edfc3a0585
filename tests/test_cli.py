"""The `vocalmind` command line end to end: experiment run, assess, config errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml
from typer.testing import CliRunner

from vocalmind.cli import app
from vocalmind.corpora import write_manifest

runner = CliRunner()


def test_experiment_run_then_assess(tone_cohort: pd.DataFrame, tmp_path: Path) -> None:
    manifest = write_manifest(tone_cohort, tmp_path / "m.csv")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "cli", "jobs": 1, "corpus": {"manifest": "PLACEHOLDER"},
        "task": {"label": "emotion"},
        "features": {"set": "egemaps", "cache_dir": None, "jobs": 1},
        "model": {"name": "logreg"}, "protocol": {"name": "loso"},
        "evaluation": {"n_boot": 100}}))
    out = tmp_path / "run"
    res = runner.invoke(app, ["experiment", "run", str(cfg), "--set",
                              f"corpus.manifest={manifest}", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert f"report: {out / 'report.html'}" in res.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["protocol"] == "loso" and "uar_ci" in metrics

    res = runner.invoke(app, ["assess", tone_cohort["file"].iloc[0], "--model", str(out),
                              "--json"])
    assert res.exit_code == 0, res.output
    (result,) = json.loads(res.stdout)  # progress bars go to stderr; a list, as for many
    assert result["prediction"] in {"low", "high"} and result["trained_on"] == str(manifest)

    # good, unreadable, good: both good ones scored, the bad one listed with its reason
    bad = tmp_path / "bad.wav"
    bad.write_text("hello, this is not audio\n" * 10)
    good = tone_cohort["file"].tolist()[:2]
    res = runner.invoke(app, ["assess", good[0], str(bad), good[1], "--model", str(out)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert res.output.count("emotion = ") == 2
    flat = " ".join(res.output.split())
    assert (f"{bad.resolve()}: emotion: no answer, cannot be read: not an audio file "
            "(content looks like plain text)") in flat
    assert "1 of 3 recording(s) could not be read" in flat
    assert "max_failure_fraction" not in flat
    res = runner.invoke(app, ["assess", good[0], str(bad), good[1], "--model", str(out),
                              "--json"])
    results = json.loads(res.stdout)
    assert [r["file"] for r in results] == [str(Path(f).resolve()) for f in
                                            (good[0], bad, good[1])]
    assert results[1]["prediction"] is None and "not an audio file" in results[1]["error"]
    assert all(results[i]["prediction"] in {"low", "high"} for i in (0, 2))


def test_config_error_is_one_clear_message(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("corpus: {manifest: m.csv}\ntask: {label: emotion}\nmodel: {nam: svm}\n")
    res = runner.invoke(app, ["experiment", "run", str(cfg)])
    assert res.exit_code == 2
    assert "model.nam: unknown key (did you mean 'name'?)" in " ".join(res.output.split())
    assert "Traceback" not in res.output


def test_assess_rejects_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    clip = tmp_path / "x.wav"
    clip.write_bytes(b"")
    res = runner.invoke(app, ["assess", str(clip), "--model", str(tmp_path)])
    assert res.exit_code == 2 and "not a finished run folder" in " ".join(res.output.split())


# --------------------------------------------------------------------------- a finished CLI


def _help_texts() -> dict[str, str]:
    """The help of every command and group, as users see it (the console script's command)."""
    from click.testing import CliRunner as ClickRunner

    from vocalmind.cli import get_cli

    cli, texts = get_cli(), {}

    def walk(cmd, path):  # type: ignore[no-untyped-def]
        res = ClickRunner().invoke(cli, [*path, "--help"], prog_name="vocalmind",
                                   env={"COLUMNS": "100"})
        assert res.exit_code == 0, (path, res.output)
        texts[" ".join(path) or "vocalmind"] = res.output
        for name, sub in getattr(cmd, "commands", {}).items():
            walk(sub, [*path, name])

    walk(cli, [])
    return texts


def test_help_is_plain_text_without_markup_types_or_phantom_options() -> None:
    texts = _help_texts()
    assert {"assess", "experiment run", "features extract", "analyze correlate"} <= set(texts)
    for name, text in texts.items():
        assert "<bool>" not in text and "<str>" not in text and "list[" not in text, name
        assert ":func:" not in text and "``" not in text and ":class:" not in text, name
        assert "..." not in text.split("Commands:")[-1] or name == "vocalmind" or \
            "Commands:" not in text, name
    for name in ("assess", "experiment run"):  # neither has a --jobs option
        assert "--jobs" not in texts[name], name
    assert "--jobs" in texts["features extract"]
    assert "Score new recordings with a trained model." in texts["vocalmind"]


def test_version() -> None:
    from vocalmind import __version__

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"vocalmind {__version__}"


def test_help_imports_nothing_heavy() -> None:
    import subprocess
    import sys

    code = ("import sys, vocalmind.cli; heavy = [m for m in ('numpy', 'pandas', 'torch', "
            "'sklearn', 'opensmile', 'rich.progress') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_list_says_what_users_can_follow() -> None:
    res = runner.invoke(app, ["models", "list"])
    assert res.exit_code == 0
    assert "seed doc" not in res.output and "based on" in res.output
    assert "Wang et al. 2023" in " ".join(res.output.split())
    # the registry's kind of every family (how it is tuned and trained)
    assert {"classical", "mlp", "deep"} <= set(res.output.split())
    fams = json.loads(runner.invoke(app, ["models", "list", "--json"]).output)
    assert {f["name"]: f["kind"] for f in fams}["ssl_attention"] == "deep"


def test_tables_are_not_cut_at_80_columns() -> None:
    # rich gives a pipe 80 columns and cuts cells with an ellipsis; nothing may be lost here
    res = runner.invoke(app, ["corpus", "list"], env={"COLUMNS": "80"})
    assert res.exit_code == 0
    assert "…" not in res.output
    from vocalmind.corpora.readers import corpus_spec

    for word in corpus_spec("ravdess").layout.split():  # folded over lines, every word kept
        assert word in res.output, word
    assert "task='both'" in res.output  # the reader options are shown


def test_relative_corpus_root_resolves_against_the_yaml_folder(tmp_path: Path, monkeypatch) -> None:
    from vocalmind.cli.experiment import resolve_config_paths

    cfg_dir = tmp_path / "configs"
    cfg_dir.mkdir()
    cfg = cfg_dir / "exp.yaml"
    cfg.write_text(yaml.safe_dump({"corpus": {"name": "emodb", "root": "../data/emodb"},
                                   "task": {"label": "emotion"}, "model": {"name": "svm"}}))
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    over = resolve_config_paths(cfg, [])
    assert over == [f'corpus.root={json.dumps(str(tmp_path / "data" / "emodb"))}']
    # the fold-file folder of a fold_file protocol too
    cfg2 = cfg_dir / "folds.yaml"
    cfg2.write_text("corpus: {manifest: m.csv}\nprotocol: {name: fold_file, params: {path: emobox/savee}}\n")
    assert resolve_config_paths(cfg2, []) == [
        f'corpus.manifest={json.dumps(str(cfg_dir / "m.csv"))}',
        f'protocol.params.path={json.dumps(str(cfg_dir / "emobox" / "savee"))}']
    # --set values are relative to the current directory
    over = resolve_config_paths(cfg, ["corpus.root=mine", "seed=3"])
    assert over[-2:] == [f'corpus.root={json.dumps(str(elsewhere / "mine"))}', "seed=3"]
    # a missing root names the absolute path it tried
    res = runner.invoke(app, ["experiment", "run", str(cfg)])
    assert res.exit_code == 2
    said = " ".join(res.output.split())
    assert str(tmp_path / "data" / "emodb") in said and "does not exist" in said


def test_corpus_info_names_the_absolute_root(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["corpus", "info", "--corpus", "emodb", "--root", "nowhere"])
    assert res.exit_code == 2
    assert str(tmp_path / "nowhere") in " ".join(res.output.split())


def test_load_config_reads_relative_paths_from_the_yaml_folder(tmp_path: Path, monkeypatch) -> None:
    # the Python API agrees with the command line: examples work from any directory
    from vocalmind.config import load_config

    monkeypatch.chdir(tmp_path)
    example = Path(__file__).resolve().parents[1] / "examples" / "emodb-egemaps-svm.yaml"
    cfg = load_config(example)
    assert Path(cfg.corpus.root) == (example.parent / "../../shared/data/emodb").resolve()
    over = load_config(example, overrides=["corpus.root=mine"])
    assert over.corpus.root == "mine"  # --set values stay relative to the current directory


def test_assess_speakers_and_abstentions(tone_cohort: pd.DataFrame, tmp_path: Path) -> None:
    """A speaker-normalised model: speakers are explicit; rubbish gets no answer."""
    import numpy as np
    import soundfile as sf

    manifest = write_manifest(tone_cohort, tmp_path / "m.csv")
    cfg = tmp_path / "exp.yaml"
    cfg.write_text(yaml.safe_dump({
        "name": "cli", "jobs": 1, "corpus": {"manifest": str(manifest)},
        "task": {"label": "emotion"},
        "features": {"set": "egemaps", "cache_dir": None, "jobs": 1,
                     "speaker_normalization": True},
        "model": {"name": "logreg"}, "protocol": {"name": "loso"},
        "evaluation": {"n_boot": 50}}))
    out = tmp_path / "run"
    assert runner.invoke(app, ["experiment", "run", str(cfg), "--out", str(out)]).exit_code == 0
    files = tone_cohort["file"].tolist()[:3]
    res = runner.invoke(app, ["assess", *files, "--model", str(out)])
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "will not pool different people" in " ".join(res.output.split())
    res = runner.invoke(app, ["assess", *files, "--model", str(out), "--speaker", "S0"])
    assert res.exit_code == 0, res.output
    assert res.output.count("emotion = ") == 3
    noise = tmp_path / "noise.wav"
    sf.write(noise, (0.3 * np.random.default_rng(0).standard_normal(32000)).astype(np.float32),
             16000)
    table = tmp_path / "speakers.csv"
    pd.DataFrame({"file": [*files, str(noise)], "speaker": ["S0"] * 4}).to_csv(table, index=False)
    res = runner.invoke(app, ["assess", *files, str(noise), "--model", str(out),
                              "--speakers", str(table)])
    assert res.exit_code == 0, res.output
    assert f"{noise}: emotion: no answer, insufficient quality: no voiced speech" in res.output
