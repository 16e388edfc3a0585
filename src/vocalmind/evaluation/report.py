"""The run report: one self-contained HTML page (images embedded) plus the PNG files.

The page states the protocol and, unmistakably, whether it was subject-independent; shows the
headline metrics with their bootstrap intervals, the pictures, the per-class table and the
resolved configuration; and, for depression/anxiety tasks, says that the numbers are research
measurements, not diagnoses.
"""

from __future__ import annotations

import base64
import html
import json
import re
import shutil
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import pandas as pd
import yaml
from matplotlib.figure import Figure

from vocalmind import __version__
from vocalmind.errors import ConfigError
from vocalmind.evaluation.metrics import HEADLINE
from vocalmind.evaluation.plots import figure_png, report_figures
from vocalmind.evaluation.protocols import PROTOCOLS, Protocol, make_protocol
from vocalmind.files import atomic_path, write_text
from vocalmind.scales import SCALES

#: Labels whose results are about depression or anxiety (need the not-a-diagnosis notice).
CLINICAL_LABELS: frozenset[str] = frozenset(
    name for s in SCALES for name in (s, f"{s}_band", f"{s}_binary")
)
NOT_A_DIAGNOSIS = "Research measurement, not a diagnosis."
_IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
                ".svg": "image/svg+xml"}
_TEMPLATE = "report_template.html"


def _strings(obj: Any, keys: frozenset[str]) -> Iterator[str]:
    """Every string (or string in a list) stored under one of ``keys`` anywhere in ``obj``."""
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if k in keys:
                if isinstance(v, str):
                    yield v
                elif isinstance(v, list | tuple):
                    yield from (x for x in v if isinstance(x, str))
            yield from _strings(v, keys)
    elif isinstance(obj, list | tuple):
        for v in obj:
            yield from _strings(v, keys)


def is_clinical(config: Mapping[str, Any], metrics: Mapping[str, Any] | None = None) -> bool:
    """Whether the run predicts a depression/anxiety label (phq8, gad7_band, ...).

    The config layout is not fixed here, so any ``label``/``labels``/``target``/``task`` entry
    at any depth (and ``metrics["label"]``) is looked at.
    """
    keys = frozenset({"label", "labels", "target", "task"})
    found = set(_strings(config, keys)) | set(_strings(metrics or {}, frozenset({"label"})))
    return bool(found & CLINICAL_LABELS)


def _protocol_info(metrics: Mapping[str, Any]) -> tuple[str, bool | None]:
    """(description, subject_independent or None if unknown) of the run's protocol.

    Read from ``metrics["protocol"]`` (``Protocol.to_dict()``, a Protocol, a protocol name or a
    description) with ``metrics["protocol_description"]`` and ``metrics["subject_independent"]``
    taking precedence when present.
    """
    proto = metrics.get("protocol")
    if isinstance(proto, Protocol):
        proto = proto.to_dict()
    if isinstance(proto, str) and proto in PROTOCOLS:
        # a bare name: describe it with default parameters unless a description was stored
        proto = make_protocol(proto).to_dict()
    info = proto if isinstance(proto, Mapping) else {}
    description = metrics.get("protocol_description") or info.get("description")
    if description is None:
        description = proto if isinstance(proto, str) else "Protocol not recorded."
    independent = metrics.get("subject_independent", info.get("subject_independent"))
    if independent is None and "speaker-dependent" in str(description).lower():
        independent = False
    return str(description), None if independent is None else bool(independent)


def _independence_banner(independent: bool | None) -> str:
    if independent is True:
        return (
            '<div class="banner independent" id="independence">Subject-independent: '
            "no speaker appears in both training and test data.</div>"
        )
    if independent is False:
        return (
            '<div class="banner dependent" id="independence">&#9888; SPEAKER-DEPENDENT '
            "evaluation: the same speakers appear in training and test "
            "data, so these scores are inflated by speaker identity and are not comparable "
            "with subject-independent results.</div>"
        )
    return (
        '<div class="banner unknown" id="independence">Subject independence was not '
        "recorded for this run; treat the scores as possibly speaker-dependent.</div>"
    )


def _fmt(x: Any) -> str:
    if x is None:
        return "&ndash;"
    if isinstance(x, float):
        return f"{x:.3f}"
    return html.escape(str(x))


def _headline_table(metrics: Mapping[str, Any]) -> str:
    names = HEADLINE.get(str(metrics.get("task")), [])
    skipped = (metrics.get("bootstrap") or {}).get("skipped", {})
    rows = []
    for name in names:
        if name not in metrics:
            continue
        ci = metrics.get(f"{name}_ci")
        interval = "&ndash;" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"
        rows.append(
            f"<tr><td>{name}</td><td>{_fmt(metrics[name])}</td><td>{interval}</td>"
            f"<td>{int(skipped.get(name, 0))}</td></tr>"
        )
    return (
        '<table id="headline"><thead><tr><th>metric</th><th>value</th><th>CI</th>'
        "<th>skipped resamples</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _per_class_section(metrics: Mapping[str, Any]) -> str:
    per_class = metrics.get("per_class")
    if not per_class:
        return ""
    rows = "".join(
        f"<tr><td>{html.escape(str(c))}</td><td>{_fmt(v['precision'])}</td>"
        f"<td>{_fmt(v['recall'])}</td><td>{_fmt(v['f1'])}</td><td>{int(v['support'])}</td></tr>"
        for c, v in per_class.items()
    )
    return (
        '<h2>Per class</h2><table id="per-class"><thead><tr><th>class</th><th>precision</th>'
        "<th>recall</th><th>F1</th><th>support</th></tr></thead><tbody>" + rows + "</tbody></table>"
    )


def _bootstrap_note(metrics: Mapping[str, Any]) -> str:
    boot = metrics.get("bootstrap") or {}
    if not boot.get("n_boot"):
        return "No confidence intervals (no bootstrap)."
    unit = boot.get("unit", "subject")
    note = (
        f"{boot.get('ci', 0.95):.0%} percentile intervals from {boot['n_boot']} bootstrap "
        f"resamples of {unit}s (seed {boot.get('seed')}); resamples where a metric is undefined "
        "are skipped and counted."
    )
    if unit == "row":
        note += " Rows, not subjects, were resampled: intervals may be too narrow."
    return html.escape(note)


def _plain(obj: Any) -> Any:
    """A JSON/YAML-safe copy of ``obj`` (paths, numpy values ... become plain values)."""
    def default(o: Any) -> Any:
        return o.tolist() if hasattr(o, "tolist") else str(o)

    return json.loads(json.dumps(obj, default=default))


def _safe_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", str(name)).strip("._")
    if not safe:
        raise ConfigError(f"figure name {name!r} has no usable characters")
    return safe


def _check_extra_figure(name: str, fig: Figure | str | Path) -> str:
    """Check an extra figure; return its MIME type."""
    _safe_name(name)
    if isinstance(fig, Figure):
        return "image/png"
    path = Path(fig)
    mime = _IMAGE_TYPES.get(path.suffix.lower())
    if mime is None:
        raise ConfigError(
            f"extra figure {name!r}: {path} is not an image of type {sorted(_IMAGE_TYPES)}"
        )
    if not path.is_file():
        raise FileNotFoundError(f"extra figure {name!r}: {path} does not exist")
    return mime


def _image_bytes(name: str, fig: Figure | str | Path, fig_dir: Path) -> tuple[bytes, str]:
    """Render/read one figure, store it under ``fig_dir``; return (bytes, MIME type)."""
    safe = _safe_name(name)
    if isinstance(fig, Figure):
        data = figure_png(fig)
        with atomic_path(fig_dir / f"{safe}.png") as tmp:
            tmp.write_bytes(data)
        return data, "image/png"
    path = Path(fig)
    mime = _check_extra_figure(name, path)
    data = path.read_bytes()
    target = fig_dir / f"{safe}{path.suffix.lower()}"
    if path.resolve() != target.resolve():
        with atomic_path(target) as tmp:
            shutil.copyfile(path, tmp)
    return data, mime


def write_report(
    run_dir: str | Path,
    *,
    metrics: Mapping[str, Any],
    predictions: pd.DataFrame | None,
    config: Mapping[str, Any],
    title: str,
    extra_figures: Mapping[str, Figure | str | Path] | None = None,
) -> Path:
    """Write ``run_dir/report.html`` (self-contained) and the figures as ``run_dir/figures/*.png``.

    Parameters
    ----------
    run_dir : run folder (created if missing)
    metrics : dict from :func:`classification_metrics`/:func:`regression_metrics`, plus
        ``"protocol"``: ``Protocol.to_dict()`` (or a Protocol, a protocol name, or a
        description string)
    predictions : table with ``y_true``, ``y_pred`` (and ``proba_<class>``) used for the ROC
        curves and regression pictures; None to skip those
    config : the resolved run configuration (shown as YAML; its task label decides the
        not-a-diagnosis notice)
    title : page title
    extra_figures : more pictures by name: matplotlib Figures or image files (.png, .jpg, .svg)

    Returns
    -------
    Path
        ``run_dir/report.html``, written atomically after the figures.

    Raises
    ------
    ConfigError
        An extra figure that is not an image, or a name with no usable characters.
    FileNotFoundError
        An extra figure file that does not exist.
    """
    run_dir = Path(run_dir)
    fig_dir = run_dir / "figures"
    for name, fig in (extra_figures or {}).items():
        _check_extra_figure(name, fig)  # fail before anything is drawn or written
    figures: dict[str, Figure | str | Path] = dict(report_figures(metrics, predictions))
    figures.update(extra_figures or {})
    blocks = []
    for name, fig in figures.items():
        data, mime = _image_bytes(name, fig, fig_dir)
        b64 = base64.b64encode(data).decode("ascii")
        caption = html.escape(str(name).replace("_", " "))
        blocks.append(
            f'<figure id="fig-{_safe_name(name)}"><img alt="{caption}" '
            f'src="data:{mime};base64,{b64}"><figcaption>{caption}</figcaption></figure>'
        )

    description, independent = _protocol_info(metrics)
    clinical = is_clinical(config, metrics)
    n_subj = metrics.get("n_subjects")
    counts = f"n = {metrics.get('n', '?')}" + ("" if n_subj is None else f", subjects = {n_subj}")
    page = Template(resources.files(__package__).joinpath(_TEMPLATE).read_text("utf-8"))
    text = page.substitute(
        version=html.escape(__version__),
        title=html.escape(title),
        task=html.escape(str(metrics.get("task", "unknown"))),
        counts=html.escape(counts),
        clinical_banner=(
            f'<div class="banner clinical" id="not-a-diagnosis">{NOT_A_DIAGNOSIS} These '
            "numbers describe a model on a research corpus; they must not be used to diagnose "
            "anyone.</div>"
            if clinical
            else ""
        ),
        protocol=html.escape(description),
        independence_banner=_independence_banner(independent),
        headline_table=_headline_table(metrics),
        bootstrap_note=_bootstrap_note(metrics),
        per_class_section=_per_class_section(metrics),
        figures="\n".join(blocks),
        config_yaml=html.escape(
            yaml.safe_dump(_plain(dict(config)), sort_keys=False, allow_unicode=True)
        ),
    )
    return write_text(run_dir / "report.html", text)
