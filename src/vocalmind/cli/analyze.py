"""``vocalmind analyze``: feature-score correlations and pre/post change from feature tables.

Feature tables are keyed by (file, start, end) and joined to the manifest on those columns.
Outputs are research measurements about groups of recordings, not diagnoses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from vocalmind.errors import VocalmindError

if TYPE_CHECKING:  # numpy/pandas load inside the commands: `--help` stays fast
    import pandas as pd

app = typer.Typer(
    help="Correlate voice features with scores and test their change between sessions "
    "(research measurements, not diagnoses).",
    no_args_is_help=True,
)
NOTE = (
    "Research measurements about voice features and questionnaire scores in a group; "
    "they are not a diagnosis of depression or anxiety for anyone."
)

FeaturesOpt = Annotated[Path, typer.Option("--features", help="feature table (.csv/.parquet) keyed by file, start, end")]
ManifestOpt = Annotated[Path, typer.Option("--manifest", help="manifest table (.csv/.parquet)")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="output folder")]


def _console() -> Any:
    from rich.console import Console

    return Console(stderr=True, soft_wrap=True)


def _fail(message: str) -> typer.Exit:
    from rich.markup import escape

    _console().print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(code=1)


def load_joined(features_path: Path, manifest_path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Join a feature table to a manifest on (file, start, end).

    Returns
    -------
    joined : DataFrame
        Manifest columns plus the feature columns, one row per matched key.
    feature_cols : list of str
        Numeric feature columns (those not in the manifest).

    Raises
    ------
    VocalmindError
        Missing key columns or no row in common.
    """
    import pandas as pd

    from vocalmind.corpora.manifest import KEY, read_manifest
    from vocalmind.files import read_table

    feats = read_table(features_path)
    if set(KEY) <= set(n for n in feats.index.names if n is not None):
        feats = feats.reset_index()
    missing = [c for c in KEY if c not in feats.columns]
    if missing:
        raise VocalmindError(
            f"{features_path}: feature table lacks key columns {missing}; it must be keyed by "
            "(file, start, end) like the manifest"
        )
    manifest = read_manifest(manifest_path)
    for df in (feats, manifest):
        df["file"] = df["file"].astype(str)
        df["start"] = pd.to_numeric(df["start"], errors="coerce").astype(float)
        df["end"] = pd.to_numeric(df["end"], errors="coerce").astype(float)
    overlap = [c for c in feats.columns if c in manifest.columns and c not in KEY]
    feature_cols = [
        c for c in feats.columns
        if c not in KEY and c not in overlap and pd.api.types.is_numeric_dtype(feats[c])
    ]
    if not feature_cols:
        raise VocalmindError(f"{features_path}: no numeric feature columns besides the key")
    joined = manifest.merge(feats[[*KEY, *feature_cols]], on=KEY, how="inner")
    if joined.empty:
        raise VocalmindError(
            f"{features_path} and {manifest_path} share no (file, start, end) row; were the "
            "features computed from this manifest?"
        )
    n_unmatched = len(feats) - len(joined)
    if n_unmatched:
        _console().print(f"[yellow]{n_unmatched} feature rows have no manifest row; left out[/yellow]")
    return joined, feature_cols


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _by_subject(df: pd.DataFrame, cols: list[str], covariates: list[str]) -> pd.DataFrame:
    """Mean of numeric columns per subject; categorical covariates take the most common value."""
    import numpy as np
    import pandas as pd

    out = df.groupby("subject")[cols].mean()
    for c in covariates:
        if pd.api.types.is_numeric_dtype(df[c]):
            out[c] = df.groupby("subject")[c].mean()
        else:
            out[c] = df.groupby("subject")[c].agg(lambda s: s.mode().iloc[0] if s.notna().any() else np.nan)
    return out


#: Manifest columns that name a recording condition (a task, a session) that must not be
#: averaged together silently.
CONDITION_COLUMNS = ("task", "session")


def condition_column(df: pd.DataFrame, by: str) -> str | None:
    """The column to analyse separately by: ``by`` itself, ``None`` for ``--by none``, or
    (``auto``) the first of :data:`CONDITION_COLUMNS` in which some subject has rows under
    more than one value (e.g. EMU's scripted and free speech)."""
    if by == "none":
        return None
    if by != "auto":
        if by not in df.columns:
            raise VocalmindError(f"--by {by!r}: not a manifest column; use auto, none or a column")
        return by
    for col in CONDITION_COLUMNS:
        if col in df.columns and df[col].nunique() > 1 and (
                df.groupby("subject")[col].nunique() > 1).any():
            return col
    return None


def native_rates(files: Any) -> dict[int, int]:
    """How many of ``files`` have each native sampling rate (Hz), read from the headers."""
    import soundfile as sf

    counts: dict[int, int] = {}
    for f in set(map(str, files)):
        try:
            sr = int(sf.info(f).samplerate)
        except (RuntimeError, OSError, sf.LibsndfileError):
            continue  # unreadable here (moved audio): nothing to say about its bands
        counts[sr] = counts.get(sr, 0) + 1
    return counts


def _print_top(table: pd.DataFrame, k: int = 10) -> None:
    from rich.table import Table

    cols = [c for c in ("task", "feature", "score", "n", "r", "p", "p_fdr") if c in table]
    if "above_nyquist" in table and table["above_nyquist"].any():
        cols.append("above_nyquist")
    t = Table(title=f"strongest {min(k, len(table))} of {len(table)} correlations (by p)")
    for c in cols:
        t.add_column(c.replace("above_nyquist", "band above Nyquist"), overflow="fold")
    for row in table.sort_values("p").head(k).itertuples(index=False):
        values = row._asdict()
        t.add_row(*[_cell(values[c]) for c in cols])
    _wide_console().print(t)


def _cell(v: Any) -> str:
    import math

    if isinstance(v, bool):
        return "yes" if v else ""
    if isinstance(v, float):
        return "-" if math.isnan(v) else (f"{v:.2e}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}")
    return str(v)


def _wide_console() -> Any:
    from vocalmind.cli._output import stdout_console

    return stdout_console()


@app.command("correlate")
def correlate(
    features: FeaturesOpt,
    manifest: ManifestOpt,
    out: OutOpt,
    score: Annotated[str, typer.Option(help="Score column(s), comma separated, e.g. phq9,gad7.")] = "phq9",
    covariates: Annotated[str, typer.Option(help="Covariates, comma separated, e.g. gender,age.")] = "",
    method: Annotated[str, typer.Option(help="pearson or spearman.")] = "pearson",
    unit: Annotated[str, typer.Option(help="subject (mean per subject) or row (every segment).")] = "subject",
    by: Annotated[str, typer.Option(
        "--by", help="Analyse each value of this column separately (e.g. task). 'auto' "
        "(default) splits by the task or session column when a subject has several; 'none' "
        "pools them explicitly.")] = "auto",
    top_k: Annotated[int, typer.Option(help="Features shown in the heatmap.")] = 30,
    show: Annotated[int, typer.Option(help="Strongest results printed here.")] = 10,
    alpha: Annotated[float, typer.Option(help="Level for the FDR-adjusted p.")] = 0.05,
) -> None:
    """Correlate every feature with the score(s); print the strongest results and write
    correlations.csv, heatmap.png and summary.json.

    With --unit subject (default) features and scores are averaged per subject first, so one
    person with many segments does not count as many independent observations. Recordings of
    different tasks (scripted reading, free speech) are not averaged together: each task is
    analysed on its own unless --by none says to pool them. Features that read frequencies
    above the Nyquist frequency of low-rate recordings (8 kHz telephone audio upsampled to
    16 kHz) are marked in the output.
    """
    import numpy as np
    import pandas as pd

    from vocalmind.files import write_json, write_table

    try:
        if method not in ("pearson", "spearman"):
            raise VocalmindError(f"--method {method!r}: use pearson or spearman")
        if unit not in ("subject", "row"):
            raise VocalmindError(f"--unit {unit!r}: use subject or row")
        joined, feature_cols = load_joined(features, manifest)
        scores, covs = _split_list(score), _split_list(covariates)
        for c in (*scores, *covs):
            if c not in joined.columns:
                raise VocalmindError(f"column {c!r} is not in the manifest")
        split_col = condition_column(joined, by)
        from vocalmind.analysis.correlate import correlate_features

        parts = ([(None, joined)] if split_col is None else
                 [(str(v), g) for v, g in joined.groupby(joined[split_col].astype(str))])
        tables, n_units = [], {}
        for value, part in parts:
            units = _by_subject(part, [*feature_cols, *scores], covs) if unit == "subject" else part
            t = correlate_features(
                units[feature_cols], units[scores],
                covariates=units[covs] if covs else None, method=method,  # type: ignore[arg-type]
            )
            if value is not None:
                t.insert(0, "task", value)
            tables.append(t)
            n_units[value or "all"] = len(units)
        table = pd.concat(tables, ignore_index=True)
    except (VocalmindError, ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None

    rates = native_rates(joined["file"])
    low = {sr: n for sr, n in rates.items() if sr < 16_000}
    limited: list[str] = []
    if low:
        from vocalmind.analysis.bandwidth import band_limited_features

        limited = band_limited_features(feature_cols, min(low))
        table["above_nyquist"] = table["feature"].isin(limited)
        if limited:
            _console().print(
                f"[yellow]warning:[/yellow] {sum(low.values())} recording(s) sampled at "
                f"{', '.join(f'{sr} Hz' for sr in sorted(low))}: {len(limited)} feature(s) read "
                f"bands above their Nyquist frequency, which upsampling leaves empty (e.g. "
                f"{', '.join(limited[:3])}); marked 'above_nyquist' in correlations.csv")
    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "correlations.csv")
    from vocalmind.analysis.plots import plot_correlation_heatmap, save_figure

    heat = table if split_col is None else table.assign(
        score=table["score"] + " (" + table["task"] + ")").drop(columns="task")
    fig = plot_correlation_heatmap(heat, top_k=top_k, alpha=alpha)
    save_figure(fig, out / "heatmap.png")
    summary: dict[str, Any] = {
        "command": "analyze correlate",
        "features": str(features),
        "manifest": str(manifest),
        "unit": unit,
        "analysed_separately_by": split_col,
        "n_units": n_units if split_col else n_units["all"],
        "n_features": len(feature_cols),
        "scores": scores,
        "covariates": covs,
        "method": method,
        "alpha": alpha,
        "native_sample_rates": {str(k): v for k, v in sorted(rates.items())},
        "features_above_nyquist": limited,
        "n_significant_fdr": {
            s: int((table.loc[table["score"] == s, "p_fdr"] < alpha).sum()) for s in scores
        },
        "top": table.sort_values("p").head(10)[
            [c for c in ("task", "feature", "score", "r", "p", "p_fdr") if c in table]]
        .replace({np.nan: None}).to_dict("records"),
        "note": NOTE,
    }
    write_json(out / "summary.json", summary)
    if split_col:
        _console().print(f"analysed each {split_col} separately: "
                         + ", ".join(f"{k} ({v} {unit}s)" for k, v in n_units.items()))
    if show > 0:
        _print_top(table, show)
    _console().print(f"wrote {out / 'correlations.csv'}, heatmap.png and summary.json ({NOTE})")


def _session_ids(col: pd.Series) -> pd.Series:
    """Session ids as text; numeric ids read from CSV (1, 1.0) become "1"."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(col):
        return col.map(lambda v: f"{v:g}" if pd.notna(v) else pd.NA).astype("string")
    return col.astype("string")


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name)[:80]


@app.command("change")
def change(
    features: FeaturesOpt,
    manifest: ManifestOpt,
    out: OutOpt,
    before: Annotated[str, typer.Option(help="session id of the first measurement")],
    after: Annotated[str, typer.Option(help="session id of the second measurement")],
    session_col: Annotated[str, typer.Option(help="manifest column holding the session")] = "session",
    alpha: Annotated[float, typer.Option(help="significance level (FDR-adjusted)")] = 0.05,
    test: Annotated[str, typer.Option(help="auto, paired_t or wilcoxon")] = "auto",
    plots: Annotated[int, typer.Option(help="paired-line plots for the smallest-p features")] = 4,
) -> None:
    """Test each feature's within-subject change from --before to --after.

    Rows are averaged per subject within each session, subjects are paired across the two
    sessions, and each feature's change is tested (paired t-test or Wilcoxon signed-rank,
    FDR-adjusted). Writes change.csv, forest.png, paired_<feature>.png and summary.json.
    """
    import numpy as np
    import pandas as pd  # noqa: F401 - the helpers below use it

    from vocalmind.files import write_json, write_table

    try:
        if test not in ("auto", "paired_t", "wilcoxon"):
            raise VocalmindError(f"--test {test!r}: use auto, paired_t or wilcoxon")
        joined, feature_cols = load_joined(features, manifest)
        if session_col not in joined.columns:
            raise VocalmindError(f"manifest has no {session_col!r} column")
        session = _session_ids(joined[session_col])
        found = sorted(session.dropna().unique().tolist())
        parts = {}
        for label, sid in (("before", before), ("after", after)):
            rows = joined[session == sid]
            if rows.empty:
                raise VocalmindError(f"--{label} {sid!r}: no rows with that {session_col}; found {found[:10]}")
            parts[label] = rows.groupby("subject")[feature_cols].mean().reset_index()
        from vocalmind.analysis.longitudinal import paired_change

        table = paired_change(
            parts["before"], parts["after"], subject_col="subject", alpha=alpha,
            feature_cols=feature_cols, test=test,  # type: ignore[arg-type]
        )
    except (VocalmindError, ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "change.csv")
    from vocalmind.analysis.plots import plot_effect_forest, plot_paired_lines, save_figure

    save_figure(plot_effect_forest(table, alpha=alpha), out / "forest.png")
    plotted = []
    for feat in table["feature"].head(plots):
        fig = plot_paired_lines(parts["before"], parts["after"], feat, subject_col="subject",
                                labels=(before, after))
        name = f"paired_{_safe_name(feat)}.png"
        save_figure(fig, out / name)
        plotted.append(name)
    sig = table[table["significant"]]
    summary = {
        "command": "analyze change",
        "features": str(features),
        "manifest": str(manifest),
        "before": before,
        "after": after,
        "n_pairs": int(table["n"].max()) if len(table) else 0,
        "n_unpaired_subjects": int(table.attrs.get("n_unpaired", 0)),
        "n_features": len(feature_cols),
        "alpha": alpha,
        "n_significant_fdr": len(sig),
        "significant": sig[["feature", "test", "mean_diff", "effect_size", "effect_type", "p", "p_fdr"]]
        .replace({np.nan: None}).to_dict("records"),
        "plots": ["forest.png", *plotted],
        "note": NOTE,
    }
    write_json(out / "summary.json", summary)
    _console().print(f"wrote {out / 'change.csv'}, {len(plotted) + 1} plots and summary.json ({NOTE})")
