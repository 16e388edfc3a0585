"""`vocalmind experiment run` and `vocalmind assess`."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from vocalmind.cli.distributed import address_option, executor_from_options, executor_option
from vocalmind.errors import VocalmindError

app = typer.Typer(help="Run experiments from YAML configs.", no_args_is_help=True)
console = Console(stderr=True)


def _fail(e: Exception) -> None:
    console.print(f"[red]error:[/red] {e}")
    raise typer.Exit(code=2)


def _fmt(metrics: dict, key: str) -> str:
    v = metrics.get(key)
    if v is None:
        return "-"
    ci = metrics.get(f"{key}_ci")
    return f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


@app.command("run")
def run(
    config: Annotated[Path, typer.Argument(help="experiment YAML")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="override: key.path=value")] = None,
    out: Annotated[Path | None, typer.Option("--out", help="run folder (default runs/NAME-TIME)")] = None,
    force: Annotated[bool, typer.Option(help="replace an existing run folder")] = False,
    executor: Annotated[str, executor_option()] = "local",
    address: Annotated[str | None, address_option()] = None,
) -> None:
    """Run one experiment and write its run folder (metrics, predictions, model, report)."""
    from vocalmind.config import load_config
    from vocalmind.experiment import run_experiment

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = load_config(config, overrides=set_ or [])
        ex = executor_from_options(executor, address, cfg.jobs) if executor != "local" else None
        res = run_experiment(cfg, out=out, force=force, executor=ex)
    except VocalmindError as e:
        _fail(e)
        return
    m = res.metrics
    t = Table(title=f"{cfg.name} — {m['protocol']}, {m['n_subjects']} subjects, level {m['level']}")
    t.add_column("metric")
    t.add_column("value [95% CI]" if cfg.evaluation.ci == 0.95 else "value [CI]")
    keys = (["uar", "accuracy", "macro_f1", "roc_auc"] if m["task"] == "classification"
            else ["mae", "rmse", "pearson_r", "ccc"])
    for k in keys:
        t.add_row(k, _fmt(m, k))
    console.print(t)
    if m.get("disclaimer"):
        console.print(f"[yellow]{m['disclaimer']}[/yellow]")
    typer.echo(f"run folder: {res.run_dir}")
    typer.echo(f"report: {res.run_dir / 'report.html'}")


def assess(
    audio: Annotated[list[Path], typer.Argument(help="recordings to score")],
    model: Annotated[Path, typer.Option("--model", help="run folder made by `experiment run`")],
    reference: Annotated[list[Path] | None, typer.Option(
        "--reference", help="more recordings of the same speaker (speaker-normalised models)")] = None,
    speaker: Annotated[list[str] | None, typer.Option(
        "--speaker", help="whose recordings: once for all files, or once per file in order")] = None,
    speakers: Annotated[Path | None, typer.Option(
        "--speakers", help="speaker table (CSV/Parquet with file and speaker columns)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    executor: Annotated[str, executor_option()] = "local",
    address: Annotated[str | None, address_option()] = None,
) -> None:
    """Score new recordings with a trained model (many at once: --executor ray).

    Recordings that fail a quality gate get no prediction but "insufficient quality:
    <reason>"; a speaker-normalised model needs to know whose recordings are whose.
    """
    from vocalmind.assess import assess as _assess
    from vocalmind.assess import read_speakers

    try:
        if speaker and speakers:
            raise typer.BadParameter("give --speaker or --speakers, not both")
        who: list[str] | dict[str, str] | None = read_speakers(speakers) if speakers else (
            list(speaker) if speaker else None)
        if executor == "ray":
            if reference:
                raise typer.BadParameter("--reference is not supported with --executor ray")
            from vocalmind.distributed import assess_sharded

            mapping = who if isinstance(who, dict) else (
                dict(zip(map(str, audio), who * len(audio) if len(who) == 1 else who,
                         strict=True)) if who else None)
            ex = executor_from_options(executor, address, 1)
            results = assess_sharded(list(audio), model, executor=ex, speakers=mapping)
        else:
            results = _assess(list(audio), model, reference=list(reference or []),
                              speakers=who)
    except VocalmindError as e:
        _fail(e)
        return
    if as_json:
        typer.echo(json.dumps(results if len(results) > 1 else results[0], indent=2))
        return
    for r in results:
        if r.get("abstained"):
            typer.echo(f"{r['file']}: {r['label']}: no answer, {r['reason']}")
        else:
            line = f"{r['file']}: {r['label']} = {r['prediction']}"
            if "probabilities" in r:
                probs = ", ".join(f"{c} {p:.2f}" for c, p in sorted(
                    r["probabilities"].items(), key=lambda kv: -kv[1]))
                line += f"  ({probs})"
            typer.echo(line)
        for w in r.get("warnings", []):
            typer.echo(f"  warning: {w}")
        if r.get("disclaimer"):
            typer.echo(f"  {r['disclaimer']}")
