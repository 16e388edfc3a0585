"""``vocalmind analyze``: feature-score correlations and pre/post change from feature tables.

Feature tables are keyed by (file, start, end) and joined to the manifest on those columns.
Outputs are research measurements about groups of recordings, not diagnoses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
import typer
from rich.console import Console

from vocalmind.corpora.manifest import KEY, read_manifest
from vocalmind.errors import VocalmindError
from vocalmind.files import read_table, write_json, write_table

app = typer.Typer(
    help="Correlate voice features with scores and test their change between sessions "
    "(research measurements, not diagnoses).",
    no_args_is_help=True,
)
console = Console(stderr=True)
NOTE = (
    "Research measurements about voice features and questionnaire scores in a group; "
    "they are not a diagnosis of depression or anxiety for anyone."
)

FeaturesOpt = Annotated[Path, typer.Option("--features", help="feature table (.csv/.parquet) keyed by file, start, end")]
ManifestOpt = Annotated[Path, typer.Option("--manifest", help="manifest table (.csv/.parquet)")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="output folder")]


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
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
        console.print(f"[yellow]{n_unmatched} feature rows have no manifest row; left out[/yellow]")
    return joined, feature_cols


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _by_subject(df: pd.DataFrame, cols: list[str], covariates: list[str]) -> pd.DataFrame:
    """Mean of numeric columns per subject; categorical covariates take the most common value."""
    out = df.groupby("subject")[cols].mean()
    for c in covariates:
        if pd.api.types.is_numeric_dtype(df[c]):
            out[c] = df.groupby("subject")[c].mean()
        else:
            out[c] = df.groupby("subject")[c].agg(lambda s: s.mode().iloc[0] if s.notna().any() else np.nan)
    return out


@app.command("correlate")
def correlate(
    features: FeaturesOpt,
    manifest: ManifestOpt,
    out: OutOpt,
    score: Annotated[str, typer.Option(help="score column(s), comma separated, e.g. phq9,gad7")] = "phq9",
    covariates: Annotated[str, typer.Option(help="covariates, comma separated, e.g. gender,age")] = "",
    method: Annotated[str, typer.Option(help="pearson or spearman")] = "pearson",
    unit: Annotated[str, typer.Option(help="subject (mean per subject) or row (every segment)")] = "subject",
    top_k: Annotated[int, typer.Option(help="features shown in the heatmap")] = 30,
    alpha: Annotated[float, typer.Option(help="level for the FDR-adjusted p")] = 0.05,
) -> None:
    """Correlate every feature with the score(s); write correlations.csv, heatmap.png, summary.json.

    With --unit subject (default) features and scores are averaged per subject first, so one
    person with many segments does not count as many independent observations.
    """
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
        if unit == "subject":
            units = _by_subject(joined, [*feature_cols, *scores], covs)
        else:
            units = joined
        from vocalmind.analysis.correlate import correlate_features

        table = correlate_features(
            units[feature_cols], units[scores],
            covariates=units[covs] if covs else None, method=method,  # type: ignore[arg-type]
        )
    except (VocalmindError, ValueError, FileNotFoundError) as e:
        raise _fail(str(e)) from None
    out.mkdir(parents=True, exist_ok=True)
    write_table(table, out / "correlations.csv")
    from vocalmind.analysis.plots import plot_correlation_heatmap, save_figure

    fig = plot_correlation_heatmap(table, top_k=top_k, alpha=alpha)
    save_figure(fig, out / "heatmap.png")
    summary: dict[str, Any] = {
        "command": "analyze correlate",
        "features": str(features),
        "manifest": str(manifest),
        "unit": unit,
        "n_units": len(units),
        "n_features": len(feature_cols),
        "scores": scores,
        "covariates": covs,
        "method": method,
        "alpha": alpha,
        "n_significant_fdr": {
            s: int((table.loc[table["score"] == s, "p_fdr"] < alpha).sum()) for s in scores
        },
        "top": table.sort_values("p").head(10)[["feature", "score", "r", "p", "p_fdr"]]
        .replace({np.nan: None}).to_dict("records"),
        "note": NOTE,
    }
    write_json(out / "summary.json", summary)
    console.print(f"wrote {out / 'correlations.csv'}, heatmap.png and summary.json ({NOTE})")


def _session_ids(col: pd.Series) -> pd.Series:
    """Session ids as text; numeric ids read from CSV (1, 1.0) become "1"."""
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
    sessions, and :func:`~vocalmind.analysis.longitudinal.paired_change` is applied. Writes
    change.csv, forest.png, paired_<feature>.png and summary.json.
    """
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
    console.print(f"wrote {out / 'change.csv'}, {len(plotted) + 1} plots and summary.json ({NOTE})")
