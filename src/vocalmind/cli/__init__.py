"""The ``vocalmind`` command line: one sub-command group per room, each in its own module."""

from __future__ import annotations

import typer

app = typer.Typer(
    name="vocalmind",
    help="Emotion, depression and anxiety measurement from speech (research use, not diagnosis).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


def _register() -> None:
    from vocalmind.cli import corpus, experiment, features

    app.add_typer(corpus.app, name="corpus")
    app.add_typer(features.app, name="features")
    app.add_typer(experiment.app, name="experiment")
    app.command("assess")(experiment.assess)


def main() -> None:
    """Entry point of the console script."""
    _register()
    app()
