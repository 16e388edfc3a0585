"""``vocalmind features``: extract a feature set over a manifest or audio files; list the sets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from vocalmind.cli.distributed import address_option, executor_from_options, executor_option

app = typer.Typer(
    help="Extract acoustic feature sets (openSMILE, log-mel, clinical) into a table.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

_PARAM_HINTS = {"opensmile": "--param config=NAME_OR_PATH (an opensmile.FeatureSet name or a .conf)"}


class _LazyConsole:
    """stderr console created on first use (rich loads only when a command prints)."""

    def print(self, *args: object, **kwargs: object) -> None:
        from vocalmind.cli._output import stderr_console

        stderr_console().print(*args, **kwargs)


_console = _LazyConsole()  # long paths stay copyable (soft wrap)


def _parse_params(pairs: list[str]) -> dict[str, Any]:
    """``["n_mels=64", "deltas=true"]`` -> ``{"n_mels": 64, "deltas": True}`` (JSON values, else str)."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{pair!r}: expected KEY=VALUE, e.g. n_mels=64", param_hint="--param")
        try:
            out[key] = json.loads(raw)
        except json.JSONDecodeError:
            out[key] = raw
    return out


@app.command("extract")
def extract(
    audio: Annotated[
        list[Path] | None, typer.Argument(help="Audio files (alternative to --manifest).", show_default=False)
    ] = None,
    manifest: Annotated[
        Path | None, typer.Option("--manifest", "-m", help="Manifest table (.csv/.parquet) with file[, start, end].")
    ] = None,
    feature_set: Annotated[str, typer.Option("--set", "-s", help="Feature set name; see `features list`.")] = "egemaps",
    output: Annotated[Path, typer.Option("--output", "-o", help="Output table, .csv or .parquet.")] = Path("features.parquet"),
    jobs: Annotated[int, typer.Option("--jobs", "-j", help="Worker processes (1 = in-process, -1 = all CPUs).")] = 1,
    cache: Annotated[Path | None, typer.Option("--cache", help="Cache folder (opt-in); re-runs reuse it.")] = None,
    max_failures: Annotated[
        float, typer.Option("--max-failures", help="Largest tolerated fraction of failed items, 0-1.")
    ] = 0.0,
    denoise: Annotated[bool, typer.Option("--denoise", help="Spectral-gating noise reduction first.")] = False,
    normalize: Annotated[str, typer.Option("--normalize", help="Level normalisation: none, peak or loudness.")] = "none",
    vad: Annotated[
        str, typer.Option("--vad", help="Trim leading/trailing non-speech: none, silero, webrtc or energy.")
    ] = "none",
    keep_speech: Annotated[
        bool, typer.Option("--keep-speech", help="Drop inner pauses too (needs --vad).")
    ] = False,
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Feature-set parameter KEY=VALUE (repeatable).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    executor: Annotated[str, executor_option(jobs=True)] = "local",
    address: Annotated[str | None, address_option()] = None,
) -> None:
    """Extract one feature set; write columns file, start, end, then one per feature.

    With --executor ray the manifest is split into shards, each a Ray task writing its own
    Parquet file in a folder beside OUTPUT (OUTPUT.shards); a re-run reuses finished shards.
    """
    from vocalmind.errors import ConfigError, ManifestError, TooManyFailuresError
    from vocalmind.features.extract import (
        PreprocessSettings,
        extract_features,
        feature_set_from_spec,
    )
    from vocalmind.files import check_writable, read_table, write_table

    if (manifest is None) == (not audio):
        raise typer.BadParameter("give either --manifest FILE or audio files, not both and not neither")
    if output.suffix.lower() not in {".csv", ".parquet"}:
        raise typer.BadParameter(f"{output}: use a .csv or .parquet output", param_hint="--output")
    try:
        check_writable(output, what="--output")  # now, not after the extraction
        fs = feature_set_from_spec(feature_set, _parse_params(param or []))
        pp = PreprocessSettings.parse(
            {"denoise": denoise, "normalize": normalize, "vad_trim": vad, "keep_speech": keep_speech}
        )
        items: Any = read_table(manifest) if manifest is not None else [str(p) for p in audio or []]
        ex = executor_from_options(executor, address, jobs, progress=not quiet)
        if executor == "ray":
            from vocalmind.distributed import extract_sharded

            result = extract_sharded(
                items, fs, preprocess=pp, executor=ex,
                work_dir=output.with_name(output.stem + ".shards"), cache_dir=cache,
                max_failure_fraction=max_failures, progress=not quiet,
            )  # fmt: skip
        else:
            result = extract_features(
                items, fs, preprocess=pp, executor=ex, n_jobs=jobs, cache_dir=cache,
                max_failure_fraction=max_failures, progress=not quiet,
            )  # fmt: skip
    except TooManyFailuresError as e:
        _console.print(f"[red]too many failures:[/red] {e}")
        failures = getattr(e, "failures", None)
        if failures is not None and len(failures):
            path = write_table(failures, output.with_name(output.stem + ".failures.csv"))
            _console.print(f"failures so far written to {path}")
        raise typer.Exit(1) from None
    except (ConfigError, ManifestError, FileNotFoundError, ValueError) as e:
        _console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(2) from None

    write_table(result.features.reset_index(), output)
    n_ok, n_bad = len(result.features), len(result.failures)
    _console.print(
        f"wrote {n_ok} rows x {result.features.shape[1]} features ({fs.name}) to {output}"
        f" ({result.n_cached} from cache)"
    )
    failures_path = output.with_name(output.stem + ".failures.csv")
    if not n_bad:
        failures_path.unlink(missing_ok=True)  # a stale list from an earlier run would mislead
    else:
        path = write_table(result.failures, failures_path)
        summary = result.failures["reason"].value_counts().head(5)
        _console.print(f"[yellow]{n_bad} failed[/yellow] (listed in {path}):")
        for reason, count in summary.items():
            _console.print(f"  {count} x {reason}")


@app.command("list")
def list_sets() -> None:
    """List the registered feature sets with their number of features."""
    from vocalmind.cli._output import stdout_console
    from vocalmind.cli._output import table as make_table
    from vocalmind.features.base import available_feature_sets, get_feature_set

    table = make_table("set", "features", "settings")
    for name in available_feature_sets():
        try:
            fs = get_feature_set(name)
            n = str(len(fs.names()))
            settings = json.dumps({k: v for k, v in fs.settings().items() if k != "name"})
        except Exception as e:  # noqa: BLE001 - a set needing parameters must not hide the rest
            hint = _PARAM_HINTS.get(name, f"{type(e).__name__}: {e}")
            n, settings = "-", f"needs parameters: {hint}"
        table.add_row(name, n, settings)
    stdout_console().print(table)
