"""`vocalmind serve`: the HTTP service (API, web page and assessment worker)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vocalmind.errors import VocalmindError

app = typer.Typer(help="The HTTP service.")


@app.command("serve")
def serve(
    db: Annotated[str | None, typer.Option(
        "--db", help="database URL; default sqlite:///DATA/vocalmind.db "
        "(PostgreSQL: postgresql+psycopg://user:pass@host:5432/db)")] = None,
    data: Annotated[Path, typer.Option(
        "--data", help="folder for the audio store (and the SQLite database)")] = Path("vocalmind-data"),
    host: Annotated[str, typer.Option(help="interface to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8000,
    model: Annotated[list[Path] | None, typer.Option(
        "--model", help="run folder to register as a model version (repeatable)")] = None,
) -> None:
    """Serve the API (OpenAPI at /docs) and the web page; assessments run in a worker.

    The first start creates the superuser "admin"; its password comes from
    VOCALMIND_ADMIN_PASSWORD or is printed once here. Other settings (upload limits, worker
    threads, lease) come from VOCALMIND_<SETTING> variables; see docs/service.md.
    """
    import uvicorn

    from vocalmind.cli._output import stderr_console
    from vocalmind.service import Settings, create_app

    console = stderr_console()

    try:
        application = create_app(Settings.from_env(data_dir=data, db_url=db,
                                                       models=list(model or [])))
    except (VocalmindError, ValueError) as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(code=2) from None
    console.print(f"vocalmind service on http://{host}:{port}/  (API docs: /docs)")
    uvicorn.run(application, host=host, port=port, log_level="info")


if __name__ == "__main__":
    app()
