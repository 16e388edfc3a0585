"""The ``vocalmind`` command line: one sub-command group per room, each in its own module.

Sub-modules import their heavy dependencies inside the commands, so ``vocalmind --help``
stays fast.
"""

from __future__ import annotations

import os

import typer

from vocalmind.cli import analyze, corpus, demo, experiment, features, models, serve

app = typer.Typer(
    name="vocalmind",
    help="Emotion, depression and anxiety measurement from speech "
    "(research measurements, not diagnoses).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.add_typer(corpus.app, name="corpus", help="Corpus readers, manifests and summaries.")
app.add_typer(features.app, name="features", help="Feature extraction.")
app.add_typer(experiment.app, name="experiment", help="Experiments from YAML configs.")
app.add_typer(analyze.app, name="analyze", help="Correlation and longitudinal statistics.")
app.add_typer(models.app, name="models", help="Model families.")
app.command("assess")(experiment.assess)
app.command("demo")(demo.demo)
app.command("serve")(serve.serve)


def main() -> None:
    """Entry point of the console script."""
    # Idle OpenMP threads spin by default; on a shared 2-core laptop that made 2-thread torch
    # training 3-14x slower than 1 thread. Must be set before torch is first imported.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    app()
