"""``vocalmind models``: the registered model families."""

from __future__ import annotations

import json

import typer

from vocalmind.models import list_models

app = typer.Typer(help="Model families (classical, mlp and deep).", no_args_is_help=True)


@app.callback()
def _group() -> None:
    """Model families (classical, mlp and deep)."""


@app.command("list")
def list_cmd(
    as_json: bool = typer.Option(False, "--json", help="print JSON instead of a table"),
) -> None:
    """List every model family with its input kind and tasks."""
    fams = list_models()
    if as_json:
        typer.echo(json.dumps([f.as_dict() for f in fams], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("name", "input", "tasks", "deep", "seed doc", "description")
    for f in fams:
        table.add_row(f.name, f.input_kind, ", ".join(f.tasks), "yes" if f.deep else "no",
                      f.source, f.description)
    Console().print(table)
