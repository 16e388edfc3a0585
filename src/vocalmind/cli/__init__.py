"""The ``vocalmind`` command line: one sub-command group per room, each in its own module.

Sub-modules import their heavy dependencies (numpy, pandas, torch, the feature sets) inside
the commands, so ``vocalmind --help`` and ``vocalmind --version`` import little more than
typer (``bench/bench_cli_startup.py`` measures it). Help is plain click formatting
(``rich_markup_mode=None``): paragraphs are re-wrapped to the terminal, and option types are
shown as click metavars (``PATH``, ``INTEGER``) instead of ``<bool>``-style annotations.
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Any

import typer

from vocalmind import __version__
from vocalmind.cli import analyze, config, corpus, demo, experiment, features, models, serve

#: click context for every command: help wrapped to the terminal up to 100 columns.
CONTEXT = {"max_content_width": 100, "help_option_names": ["--help", "-h"]}

app = typer.Typer(
    name="vocalmind",
    help="Emotion, depression and anxiety measurement from speech "
    "(research measurements, not diagnoses).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings=CONTEXT,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"vocalmind {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option(
        "--version", "-V", callback=_show_version, is_eager=True,
        help="Print the version and exit.")] = False,
) -> None:
    """Emotion, depression and anxiety measurement from speech (research measurements, not
    diagnoses)."""


app.add_typer(corpus.app, name="corpus", help="Corpus readers, manifests and summaries.")
app.add_typer(features.app, name="features", help="Feature extraction.")
app.add_typer(experiment.app, name="experiment", help="Experiments from YAML configs.")
app.add_typer(analyze.app, name="analyze", help="Correlation and longitudinal statistics.")
app.add_typer(models.app, name="models", help="Model families.")
app.add_typer(config.app, name="config", help="The configuration reference.")
# short_help: the command list shows whole phrases, not a first sentence cut at 45 characters
app.command("assess", short_help="Score new recordings with a trained model.")(experiment.assess)
app.command("demo", short_help="Synthesise a cohort, run an experiment, assess a new voice.")(
    demo.demo)
app.command("serve", short_help="Serve the HTTP API and web page.")(serve.serve)

#: typer's type labels -> the metavars click users know
_METAVARS = {"path": "PATH", "str": "TEXT", "int": "INTEGER", "float": "NUMBER"}


def _tidy(command: Any) -> Any:
    """Give every value option and argument a plain metavar (``PATH``, ``TEXT``), in place.

    typer labels them ``<path>``, ``<list[str]>``; a repeatable option is said to be
    repeatable in its help instead.
    """
    for param in getattr(command, "params", []):
        if getattr(param, "is_flag", False) or param.metavar is not None:
            continue
        label = param.display_type(None).strip("<>") if hasattr(param, "display_type") else ""
        label = label.removeprefix("list[").removesuffix("]").lower()
        if param.param_type_name == "argument":
            param.metavar = param.name.upper()
            # the name says it; typer would append "<list[Path]>" to the argument's help row
            param.display_type_rich = lambda ctx=None: None
        elif "|" in label:
            param.metavar = "[" + label + "]"
        else:
            param.metavar = _METAVARS.get(label, label.upper() or "VALUE")
    for sub in getattr(command, "commands", {}).values():
        if not sub.short_help and sub.help:
            # the command list shows the whole first sentence (wrapped), never "...-cut"
            first = re.split(r"(?<=\.)\s", " ".join(sub.help.split()), maxsplit=1)[0]
            sub.short_help = first
        _tidy(sub)
    return command


def get_cli() -> Any:
    """The click command behind ``vocalmind``, with tidy metavars (tests invoke this)."""
    import typer.main

    return _tidy(typer.main.get_command(app))


def main() -> None:
    """Entry point of the console script."""
    # Idle OpenMP threads spin by default; on a shared 2-core laptop that made 2-thread torch
    # training 3-14x slower than 1 thread. Must be set before torch is first imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    get_cli()(prog_name="vocalmind")
