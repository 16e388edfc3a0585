"""``vocalmind corpus``: list the corpus readers, summarise a corpus, write its manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vocalmind.errors import VocalmindError

app = typer.Typer(
    help="Read corpora laid out as their authors distribute them.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)



class _Err:
    """stderr console made on first use; soft wrap keeps file paths on one line."""

    def print(self, *args: Any, **kwargs: Any) -> None:
        from vocalmind.cli._output import stderr_console

        stderr_console().print(*args, **kwargs)


_err = _Err()


def escape(text: str) -> str:
    """Text shown literally by rich (no [markup] in file names)."""
    from rich.markup import escape as _escape

    return _escape(text)

CorpusOpt = Annotated[str, typer.Option("--corpus", "-c", help="Corpus name (see `corpus list`).")]
RootOpt = Annotated[Path, typer.Option("--root", "-r", help="Corpus folder (csv: the table file).")]
OptionOpt = Annotated[
    list[str] | None,
    typer.Option("--option", "-O", help="Reader option KEY=VALUE (repeatable), e.g. task=structured."),
]


def _parse_options(items: list[str] | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--option")
        key, value = item.split("=", 1)
        low = value.strip().lower()
        parsed: Any = value
        if low in ("true", "yes"):
            parsed = True
        elif low in ("false", "no"):
            parsed = False
        else:
            try:
                parsed = float(value) if "." in value else int(value)
            except ValueError:
                parsed = value
        out[key.strip()] = parsed
    return out


def _read(corpus: str, root: Path, options: list[str] | None) -> Any:
    from vocalmind.corpora.readers import read_corpus

    root = root.expanduser().absolute()  # errors name the absolute path that was tried
    try:
        return read_corpus(corpus, root, **_parse_options(options))
    except (VocalmindError, ValueError) as e:
        _err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(code=2) from None


def _failure_report(failures: list[dict[str, str]], limit: int = 10) -> None:
    if not failures:
        return
    _err.print(f"[yellow]{len(failures)} file(s) skipped:[/yellow]")
    for f in failures[:limit]:
        _err.print(f"  {escape(f['file'])}: {escape(f['reason'])}")
    if len(failures) > limit:
        _err.print(f"  ... and {len(failures) - limit} more")


def reader_options(reader: Any) -> str:
    """A reader's options as ``name=default`` (``check_audio`` left out), e.g. ``task=both``."""
    import inspect

    out = []
    for p in inspect.signature(reader).parameters.values():
        if p.kind is p.KEYWORD_ONLY and p.name != "check_audio":
            out.append(f"{p.name}={p.default!r}" if p.default is not p.empty else p.name)
    return ", ".join(out) or "-"


@app.command("list")
def list_corpora() -> None:
    """List the corpora vocalmind can read, with their options and expected layout."""
    from vocalmind.cli._output import stdout_console, table
    from vocalmind.corpora.readers import available_corpora, corpus_spec

    t = table("name", "language", "description", "options (--option KEY=VALUE)",
              "expected layout", title="corpus readers")
    for name in available_corpora():
        spec = corpus_spec(name)
        t.add_row(name, spec.language or "-", spec.description, reader_options(spec.reader),
                  spec.layout)
    stdout_console().print(t)


@app.command("info")
def info(
    corpus: CorpusOpt,
    root: RootOpt,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout.")] = False,
    plots: Annotated[Path | None, typer.Option(
        "--plots", help="Folder for overview PNGs (names start with the corpus name).")] = None,
    option: OptionOpt = None,
) -> None:
    """Summarise a corpus: files, subjects, duration, label balance, skipped files."""
    from vocalmind.corpora.summary import row_durations, summarize, summary_plots

    df = _read(corpus, root, option)
    summary = summarize(df)
    if plots is not None:
        durations, _ = row_durations(df)
        summary["plots"] = [str(p) for p in summary_plots(df, durations, plots)]
    if as_json:
        typer.echo(json.dumps(summary, default=str))
        return
    from vocalmind.cli._output import stdout_console
    from vocalmind.cli._output import table as make_table

    con = stdout_console()
    table = make_table("what", "value", title=f"{corpus} at {root}")
    table.add_row("rows", str(summary["rows"]))
    table.add_row("files", str(summary["files"]))
    table.add_row("subjects", str(summary["subjects"]))
    table.add_row("duration", f"{summary['duration_s'] / 60:.1f} min")
    for k, v in summary["splits"].items():
        table.add_row(f"split {k}", str(v))
    for k, v in summary["gender"].items():
        table.add_row(f"subjects gender {k}", str(v))
    for col, counts in summary["labels"].items():
        table.add_row(col, ", ".join(f"{k}: {n}" for k, n in counts.items()))
    for s, st in summary["scores"].items():
        table.add_row(s, f"n={st['n']} mean={st['mean']} range {st['min']:g}-{st['max']:g}")
    for p in summary.get("plots", []):
        table.add_row("plot", p)
    con.print(table)
    _failure_report(summary["failures"])


@app.command("manifest")
def manifest(
    corpus: CorpusOpt,
    root: RootOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Manifest file (.csv or .parquet).")],
    option: OptionOpt = None,
) -> None:
    """Write the manifest of a corpus (atomically) and report skipped files."""
    from vocalmind.corpora.manifest import write_manifest

    if output.suffix.lower() not in (".csv", ".parquet"):
        _err.print(f"[red]error:[/red] {escape(str(output))}: use a .csv or .parquet file name")
        raise typer.Exit(code=2)
    df = _read(corpus, root, option)
    write_manifest(df, output)
    failures = df.attrs.get("failures", [])
    _err.print(
        f"wrote {escape(str(output))}: {len(df)} rows, {df['file'].nunique()} files, "
        f"{df['subject'].nunique()} subjects; {len(failures)} skipped"
    )
    _failure_report(failures)


@app.command("folds")
def folds(
    corpus: CorpusOpt,
    root: RootOpt,
    output: Annotated[Path, typer.Option("--output", "-o", help="Folder for the fold files.")],
    protocol: Annotated[str, typer.Option(
        "--protocol", help="Protocol that makes the folds: loso, group_kfold, ...")] = "loso",
    param: Annotated[list[str] | None, typer.Option(
        "--param", "-p", help="Protocol parameter KEY=VALUE (repeatable), e.g. n_splits=6.")] = None,
    label: Annotated[str, typer.Option(help="Manifest column written as 'emo'.")] = "emotion",
    option: OptionOpt = None,
) -> None:
    """Write a corpus's folds as EmoBox-style fold files (fold_K/NAME_train_fold_K.jsonl,
    NAME_test_fold_K.jsonl), for protocol fold_file or for other toolkits."""
    from vocalmind.evaluation.folds import write_fold_files
    from vocalmind.evaluation.protocols import make_protocol

    df = _read(corpus, root, option)
    try:
        if label not in df.columns:
            raise VocalmindError(f"--label {label!r} is not a column of the {corpus} manifest")
        proto = make_protocol(protocol, **_parse_options(param))
        y = df[label].astype(str).to_numpy() if protocol in (
            "group_kfold", "stratified_kfold", "holdout") else None
        splits = list(proto.split(df, y, groups=df["subject"].astype(str).to_numpy(),
                                  split_labels=df["split"] if "split" in df else None))
        written = write_fold_files(output, df, splits, dataset=corpus, label=label)
    except (VocalmindError, ValueError) as e:
        _err.print(f"[red]error:[/red] {escape(str(e))}")
        raise typer.Exit(code=2) from None
    kind = "subject-independent" if proto.subject_independent else "SPEAKER-DEPENDENT"
    _err.print(f"wrote {len(splits)} {kind} folds ({len(written)} files) to {escape(str(output))}")
