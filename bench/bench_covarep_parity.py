"""Agreement of vocalmind's clinical descriptors with the real COVAREP, descriptor by descriptor.

Usage: ``.venv/bin/python bench/bench_covarep_parity.py [--out parity.md] [--csv parity.csv]
[--dither-ceiling]``.
Reads COVAREP's frame-level output in ``../shared/reference/covarep`` and the 7 recordings
it was computed on in ``../shared/data``, computes vocalmind's descriptors, and prints
(and optionally writes) the per-descriptor table of
:func:`vocalmind.features.clinical.parity.parity_table` with the issue's targets.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vocalmind.features.clinical import parity  # noqa: E402

SHARED = Path(os.environ.get("VOCALMIND_SHARED",
                             Path(__file__).resolve().parents[1].parent / "shared"))


def target(name: str) -> tuple[str, float]:
    """The issue's threshold for a descriptor: (figure, minimum)."""
    if name == "VUV":
        return "kappa", 0.9
    if name == "creak":
        return "kappa", 0.5
    if name in ("F0", "peakSlope") or (name.startswith("MCEP_") and int(name[5:]) <= 12):
        return "r", 0.95
    if name in ("Rd_conf", "HRF"):
        return "r", float("nan")  # no target in the issue
    return "r", 0.9


def markdown(tab: pd.DataFrame, summary: dict[str, float]) -> str:
    lines = ["| descriptor | frames | r | rel. MAE | bias | kappa | Spearman (stats) | "
             "target | met |", "|---|---:|---:|---:|---:|---:|---:|---|---|"]
    for name, row in tab.iterrows():
        fig, thr = target(str(name))
        val = row[fig]
        if np.isnan(thr):
            t, met = "-", ""
        elif np.isnan(val):
            t, met = f"{fig} >= {thr}", "n/a"
        else:
            t, met = f"{fig} >= {thr}", "yes" if val >= thr else f"no ({val - thr:+.2f})"
        f = lambda v, d=3: "" if np.isnan(v) else f"{v:.{d}f}"  # noqa: E731
        lines.append(f"| {name} | {int(row['n'])} | {f(row['r'])} | {f(row['rel_mae'])} | "
                     f"{f(row['bias'], 3)} | {f(row['kappa'])} | {f(row['spearman'])} | {t} "
                     f"| {met} |")
    lines.append("")
    lines += [f"- {k}: {v:.3f}" for k, v in summary.items()]
    return "\n".join(lines)


def dither_ceiling(data_dir: Path) -> str:
    """Frame-level r of vocalmind with itself across two sox dither draws (EMU files).

    The reference's 8 kHz EMU recordings went through ``sox -r 16000 -b 16``, whose
    dither is the only content of the 4-8 kHz band; LP inverse filters amplify that band,
    so residual-based descriptors depend on the noise draw, which the reference's run does
    not record. Two fresh draws (no ``-R``) bound the agreement any implementation can
    reach with the reference on these files. Needs ``sox``.
    """
    import shutil
    import subprocess
    import tempfile

    import soundfile as sf

    from vocalmind.features.clinical.descriptors import descriptor_matrix, descriptor_names

    if not shutil.which("sox"):
        return "dither ceiling: sox not installed, skipped\n"
    names = ["F0", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "Rd", "HRF", "MCEP_23", "MCEP_24"] + [
        f"HMPDM_{k}" for k in range(19, 25)]
    cols = descriptor_names() + ["HRF"]
    lines = ["vocalmind against itself, two sox dither draws of the same EMU recording "
             "(frames both call voiced; NAQ, QOQ within [0, 1]; circular r for HMPDM):", "",
             "| recording | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for name, rel in parity.RECORDINGS.items():
        if not name.startswith("emu"):
            continue
        mats = []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "x.wav"
                subprocess.run(["sox", str(data_dir / rel), "-r", "16000", "-b", "16",
                                str(out)], check=True, capture_output=True)
                y, sr = sf.read(out, dtype="float64")
            mats.append(descriptor_matrix(y, sr=sr, hrf=True)[1])
        a, b = mats
        v = (a[:, 1] > 0) & (b[:, 1] > 0)
        row = []
        for n in names:
            j = cols.index(n)
            x, z = a[v, j], b[v, j]
            ok = np.isfinite(x) & np.isfinite(z)
            if n in parity.QUOTIENT_RANGE:
                lo, hi = parity.QUOTIENT_RANGE[n]
                ok &= (x >= lo) & (x <= hi) & (z >= lo) & (z <= hi)
            r = (parity.circular_r(x[ok], z[ok]) if n.startswith("HMPDM_")
                 else np.corrcoef(x[ok], z[ok])[0, 1])
            row.append(f"{r:.2f}")
        lines.append(f"| {name} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="write the markdown table here")
    ap.add_argument("--csv", type=Path, help="write the figures as CSV here")
    ap.add_argument("--dither-ceiling", action="store_true",
                    help="also measure vocalmind against itself on the EMU recordings "
                         "converted twice by sox with different dither draws")
    args = ap.parse_args(argv)
    ref_dir, data_dir = SHARED / "reference" / "covarep", SHARED / "data"
    if not ref_dir.is_dir() or not data_dir.is_dir():
        print(f"reference or data absent under {SHARED}; skipped")
        return 0
    pairs = [parity.load_pair(n, reference_dir=ref_dir, data_dir=data_dir)
             for n in parity.RECORDINGS]
    tab = parity.parity_table(pairs)
    ours_v, ref_v = parity.voiced_fractions(pairs)
    sp = parity.statistic_spearman(pairs)
    summary = {"utterance-level median Spearman over all statistics":
               float(np.nanmedian(sp)),
               "share of statistics with Spearman < 0.3": float(np.mean(sp.dropna() < 0.3)),
               "voiced share vocalmind": ours_v, "voiced share COVAREP": ref_v}
    text = markdown(tab, summary)
    # the glottal descriptors by corpus (EMU: 8 kHz phone recordings, resampled)
    sub = {c: parity.parity_table([p for p in pairs if p.name.startswith(c)])
           for c in ("emodb", "emu")}
    names = ["F0", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "Rd", "Rd_conf", "HRF"]
    text += ("\n\nFrame-level r by corpus:\n\n| corpus | " + " | ".join(names) + " |\n|---|"
             + "---:|" * len(names) + "\n")
    for c, t in sub.items():
        text += f"| {c} | " + " | ".join(f"{t.loc[n, 'r']:.3f}" for n in names) + " |\n"
    if args.dither_ceiling:
        text += "\n" + dither_ceiling(data_dir)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if args.csv:
        tab.to_csv(args.csv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
