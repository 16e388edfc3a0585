"""`vocalmind experiment run` and `vocalmind assess`."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from vocalmind.cli._output import stderr_console
from vocalmind.cli.distributed import address_option, executor_from_options, executor_option
from vocalmind.errors import VocalmindError

app = typer.Typer(help="Run experiments from YAML configs.", no_args_is_help=True)


class _LazyConsole:
    """stderr console made on first use: rich is not imported for `--help`."""

    def print(self, *args: object, **kwargs: object) -> None:
        stderr_console().print(*args, **kwargs)


console = _LazyConsole()


def _fail(e: Exception) -> None:
    console.print(f"[red]error:[/red] {e}")
    raise typer.Exit(code=2)


def _fmt(metrics: dict, key: str) -> str:
    v = metrics.get(key)
    if v is None:
        return "-"
    ci = metrics.get(f"{key}_ci")
    return f"{v:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


#: Config values that name files: relative ones are read against the YAML file's folder.
PATH_KEYS = ("corpus.root", "corpus.manifest", "protocol.params.path")


def _get(raw: dict, dotted: str) -> object:
    node: object = raw
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def resolve_config_paths(config: Path, overrides: list[str]) -> list[str]:
    """Overrides that make the config's relative paths absolute, followed by ``overrides``.

    A relative ``corpus.root``, ``corpus.manifest`` or ``protocol.params.path`` written in
    the YAML file is resolved against the folder of that file (so ``examples/*.yaml`` work
    from any directory); the same keys given with ``--set`` are resolved against the current
    directory, as a user typing them expects. Other overrides pass unchanged.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "c.yaml").write_text("corpus: {name: emodb, root: data/emodb}")
    >>> resolve_config_paths(d / "c.yaml", [])[0] == f'corpus.root="{d / "data" / "emodb"}"'
    True
    """
    import yaml

    try:
        raw = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return list(overrides)  # load_config reports the problem with the file's name
    out = []
    base = config.expanduser().absolute().parent
    for key in PATH_KEYS:
        value = _get(raw, key) if isinstance(raw, dict) else None
        if isinstance(value, str) and value and not Path(value).expanduser().is_absolute():
            out.append(f"{key}={json.dumps(os.path.normpath(base / Path(value).expanduser()))}")
    for item in overrides:
        key, sep, value = item.partition("=")
        if sep and key.strip() in PATH_KEYS and value.strip() and not Path(
                value.strip()).expanduser().is_absolute():
            item = f"{key.strip()}={json.dumps(os.path.normpath(Path(value.strip()).expanduser().absolute()))}"
        out.append(item)
    return out


def _check_root(cfg: object) -> None:
    """Fail early, naming the absolute path tried, when the corpus folder does not exist."""
    from vocalmind.errors import ConfigError

    corpus = getattr(cfg, "corpus", None)
    root = getattr(corpus, "root", None)
    if corpus is not None and getattr(corpus, "manifest", None) is None and root:
        path = Path(root).expanduser().absolute()
        if not path.exists():
            raise ConfigError(
                f"corpus.root: {path} does not exist (a relative root in a config file is read "
                "from the file's folder, one given with --set from the current directory)")


@app.command("run")
def run(
    config: Annotated[Path, typer.Argument(help="Experiment YAML file.")],
    set_: Annotated[list[str] | None, typer.Option(
        "--set", help="Override a config value: key.path=value (repeatable). Relative paths "
        "given here are read from the current directory.")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Run folder (default runs/NAME-TIME).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing run folder.")] = False,
    executor: Annotated[str, executor_option()] = "local",
    address: Annotated[str | None, address_option()] = None,
) -> None:
    """Run one experiment and write its run folder (metrics, predictions, model, report).

    Relative paths in the YAML file (corpus.root, corpus.manifest, protocol.params.path) are
    read from the YAML file's folder.
    """
    from vocalmind.config import load_config
    from vocalmind.experiment import run_experiment

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        cfg = load_config(config, overrides=resolve_config_paths(config, set_ or []))
        _check_root(cfg)
        ex = executor_from_options(executor, address, cfg.jobs) if executor != "local" else None
        res = run_experiment(cfg, out=out, force=force, executor=ex)
    except VocalmindError as e:
        _fail(e)
        return
    from vocalmind.cli._output import stdout_console, table

    m = res.metrics
    t = table("metric", "value [95% CI]" if cfg.evaluation.ci == 0.95 else "value [CI]",
              "baseline",
              title=cfg.name)
    t.caption = f"{m['protocol']}, {m['n_subjects']} subjects, per {m['level']}"
    t.min_width = len(t.caption) + 4  # the caption on one line
    base = _baselines(res.run_dir)
    keys = (["uar", "accuracy", "macro_f1", "roc_auc"] if m["task"] == "classification"
            else ["mae", "rmse", "pearson_r", "ccc"])
    for k in keys:
        b = base.get(k)
        t.add_row(k, _fmt(m, k), "-" if b is None else f"{b:.3f}")
    stdout_console().print(t)
    screen = _read_json(res.run_dir / "screening.json")
    if screen:
        parts = [f"{k} {_fmt(screen, k)}" for k in ("sensitivity", "specificity", "ppv", "npv")]
        typer.echo(f"screening at {screen['rule']}: " + ", ".join(parts))
    pos = m.get("positive")
    if pos:
        parts = [f"{k} {_fmt(pos, k)}" for k in ("f1", "sensitivity", "specificity", "ppv")]
        typer.echo(f"positive class {pos['class']}: " + ", ".join(parts))
    if m.get("repeats"):
        typer.echo(f"pooled over {m['repeats']} repeats of the protocol (seeds in metrics.json)")
    for w in m.get("warnings") or []:
        console.print(f"[yellow]warning:[/yellow] {w}")
    n_subj = m.get("n_subjects")
    if isinstance(n_subj, int) and n_subj < 5:
        console.print(f"[yellow]caveat:[/yellow] only {n_subj} subjects: intervals over so few "
                      "subjects are too coarse to trust" + (
                          "; each fold trains on ONE person" if n_subj == 2 else ""))
    if m.get("disclaimer"):
        console.print(f"[yellow]{m['disclaimer']}[/yellow]")
    typer.echo(f"run folder: {res.run_dir}")
    typer.echo(f"report: {res.run_dir / 'report.html'}")


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _baselines(run_dir: Path) -> dict:
    """The per-metric baselines the report wrote (chance/majority or the mean floor)."""
    return _read_json(run_dir / "baselines.json").get("per_metric", {})


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
    <reason>"; a recording that cannot be read gets its reason and the others are still
    scored (exit status 2 when any could not be read). A speaker-normalised model needs to
    know whose recordings are whose. --json prints a list, one object per recording.
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
                              speakers=who, on_error="report")
    except VocalmindError as e:
        _fail(e)
        return
    failed = [r for r in results if r.get("error")]
    if as_json:
        typer.echo(json.dumps(results, indent=2))
        if failed:
            raise typer.Exit(code=2)
        return
    for r in results:
        if r.get("error"):
            typer.echo(f"{r['file']}: {r['label']}: no answer, cannot be read: {r['error']}")
        elif r.get("abstained"):
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
    if failed:
        console.print(f"[red]error:[/red] {len(failed)} of {len(results)} recording(s) could "
                      "not be read (listed above with the reason)")
        raise typer.Exit(code=2)
