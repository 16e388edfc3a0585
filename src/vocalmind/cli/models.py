"""``vocalmind models``: the registered model families."""

from __future__ import annotations

import json

import typer

app = typer.Typer(help="Model families (classical, mlp and deep).", no_args_is_help=True)

#: The published work each family follows, in words a user can look up.
BASED_ON = {
    "000": "DepAnxSpeechNet (joint depression and anxiety from speech)",
    "001": "Learnable deep wavelet packet transform for emotion in suicide-risk calls",
    "002": "Wang et al. 2023, fast assessment of depression from voice acoustic features",
    "003": "Zhang et al., wav2vec 2.0 transfer for speech depression detection",
    "004": "Mel-spectrogram CNNs for speech emotion recognition",
}


@app.callback()
def _group() -> None:
    """Model families (classical, mlp and deep)."""


def based_on(source: str) -> str:
    """The work a family follows, or "standard estimator" for the classical ones."""
    return BASED_ON.get(source, "standard scikit-learn estimator" if source in ("", "-") else source)


@app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List every model family with its input, tasks and the published work it follows."""
    from vocalmind.models import list_models

    fams = list_models()
    if as_json:
        typer.echo(json.dumps([{**f.as_dict(), "based_on": based_on(f.source)} for f in fams],
                              indent=2))
        return
    from vocalmind.cli._output import stdout_console, table

    t = table("name", "kind", "input", "tasks", "description", "based on")
    for f in fams:
        t.add_row(f.name, f.kind, f.input_kind, ", ".join(f.tasks), f.description,
                  based_on(f.source))
    stdout_console().print(t)
