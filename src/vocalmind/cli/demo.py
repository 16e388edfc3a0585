"""`vocalmind demo`: the main job on an embedded default, needing no downloaded corpus."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from vocalmind.errors import VocalmindError


class _LazyConsole:
    def print(self, *args: object, **kwargs: object) -> None:
        from vocalmind.cli._output import stderr_console

        stderr_console().print(*args, **kwargs)


console = _LazyConsole()


def _rounded(value: object, digits: int = 3) -> object:
    """Floats (also inside dicts) rounded for display."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    return value


def demo(
    out: Annotated[Path, typer.Option("--out", help="folder for the cohort, run and assessment")] = Path("demo-out"),
    speakers: Annotated[int, typer.Option(help="synthetic speakers")] = 8,
    per_class: Annotated[int, typer.Option(help="utterances per speaker and class")] = 6,
) -> None:
    """Synthesise a labelled cohort with espeak-ng, run a subject-independent experiment on
    it, write the report, and assess one new recording of an unseen voice."""
    import yaml

    from vocalmind.assess import assess
    from vocalmind.config import load_config
    from vocalmind.demo import make_demo_assessment_clip, synthesize_cohort
    from vocalmind.experiment import run_experiment

    t0 = time.perf_counter()
    try:
        console.print(f"[bold]1/3[/bold] synthesising {speakers} speakers with espeak-ng ...")
        manifest = synthesize_cohort(out / "cohort", n_speakers=speakers,
                                     utterances_per_class=per_class, seed=0)
        manifest_path = out / "cohort" / "manifest.csv"  # written by synthesize_cohort
        raw = yaml.safe_load(resources.files("vocalmind.configs").joinpath("demo.yaml").read_text())
        raw["corpus"]["manifest"] = str(manifest_path)
        cfg = load_config(raw=raw)
        console.print("[bold]2/3[/bold] leave-one-speaker-out experiment ...")
        res = run_experiment(cfg, out=out / "run", force=True)
        console.print("[bold]3/3[/bold] assessing a new recording of an unseen voice ...")
        clip = make_demo_assessment_clip(out / "new-recording.wav", seed=1)
        result = assess([clip], res.run_dir)[0]
    except VocalmindError as e:
        console.print(f"[red]error:[/red] {e}")
        raise typer.Exit(code=2) from None
    m = res.metrics
    lo, hi = m["uar_ci"]
    typer.echo(f"demo cohort: {len(manifest)} recordings, {manifest['subject'].nunique()} speakers")
    typer.echo(f"UAR {m['uar']:.3f} [{lo:.3f}, {hi:.3f}] ({m['protocol_description']})")
    typer.echo("new recording: " + json.dumps({k: _rounded(result[k]) for k in (
        "prediction", "probabilities") if k in result}))
    typer.echo(f"took {time.perf_counter() - t0:.0f} s")
    typer.echo(f"report: {res.run_dir / 'report.html'}")
