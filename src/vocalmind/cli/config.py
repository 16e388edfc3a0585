"""``vocalmind config``: the configuration reference, generated from the schema."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="The experiment configuration schema.", no_args_is_help=True)


@app.command("reference")
def reference(
    output: Annotated[Path | None, typer.Option(
        "--output", "-o", help="Write the page here (e.g. docs/config-reference.md) instead "
        "of printing it.")] = None,
) -> None:
    """Print (or write) the configuration reference: every key with its type, default and
    meaning, the protocols and their parameters, the models and the corpus readers with
    their options."""
    from vocalmind.config import config_reference

    text = config_reference()
    if output is None:
        typer.echo(text, nl=False)
        return
    from vocalmind.errors import VocalmindError
    from vocalmind.files import write_text

    try:
        write_text(output, text)
    except (VocalmindError, OSError) as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(code=2) from None
    typer.echo(f"wrote {output}", err=True)
