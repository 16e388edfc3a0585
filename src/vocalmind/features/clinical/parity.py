"""Agreement of the clinical descriptors with COVAREP's own output, descriptor by descriptor.

The reference is COVAREP's frame-level output (``../shared/reference/covarep/*.csv``, one
row every 10 ms at ``0.0049375 + 0.01 k`` s, columns ``time``, the 74 exported COVAREP
descriptors and ``HRF``; ``NA`` where undefined). vocalmind's frames lie at
``0.005 + 0.01 k`` s, so frames are paired by their index ``k``.

Figures per descriptor (:func:`parity_table`), pooled over all paired frames of all
recordings:

* ``r``: Pearson correlation on frames both call voiced (VUV = 1 in both) where both values
  are finite (NAQ and QOQ: and within [0, 1], see ``QUOTIENT_RANGE``); for the phase descriptors ``HMPDM_*`` (angles in (-pi, pi]) the circular
  correlation of Jammalamadaka & SenGupta; for ``creak`` on every frame.
* ``rel_mae``: mean |vocalmind - COVAREP| / mean |COVAREP| on the same frames (for HMPDM the
  mean absolute wrapped difference over pi); ``bias``: mean (vocalmind - COVAREP).
* ``kappa``: Cohen's kappa of the binary decision on every paired frame: VUV, and creak at
  ``creak > 0.3`` (COVAREP's ``ANN_decision_threshold``, applied here to the posterior
  without COVAREP's 3-frame median filter).
* ``spearman``: the median over the descriptor's ten statistics of the rank correlation,
  across recordings, of the statistic computed by
  :func:`~vocalmind.features.clinical.statistics.statistics_matrix` on vocalmind's
  descriptors and on COVAREP's (COVAREP's voiced-only descriptors masked to its voiced
  frames, as vocalmind's are NaN on unvoiced frames).

:func:`utterance_spearman` gives the median over every statistic (the issue's summary).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
from scipy import stats

from vocalmind.features.clinical.descriptors import descriptor_matrix, descriptor_names
from vocalmind.features.clinical.statistics import STATS, statistics_matrix

#: reference file stem -> recording path relative to the data folder
RECORDINGS = {
    "emodb_03a01Wa": "emodb/wav/03a01Wa.wav",
    "emodb_08a01Fd": "emodb/wav/08a01Fd.wav",
    "emodb_10a05Aa": "emodb/wav/10a05Aa.wav",
    "emodb_13a01Lb": "emodb/wav/13a01Lb.wav",
    "emodb_16a01Wb": "emodb/wav/16a01Wb.wav",
    "emu_1367": "emu/audio_raw/WAVs_unstructured/1367.wav",
    "emu_2819": "emu/audio_raw/WAVs_unstructured/2819.wav",
}

#: descriptors defined on voiced frames only (NaN elsewhere in vocalmind's output)
VOICED_ONLY = ("F0", "NAQ", "QOQ", "H1H2", "PSP", "MDQ", "Rd", "Rd_conf", "HRF")
#: descriptors compared on every frame (not only on frames both call voiced)
ALL_FRAMES = ("creak",)
#: physical range of quotients: COVAREP's first-GCI quirk (``get_vq_params`` measures the
#: first "cycle" from the signal's start) gives values far outside it (QOQ of 65), which
#: vocalmind reproduces; a single such frame would decide a pooled correlation, so frames
#: where either value lies outside are left out of the frame-level figures (not of the
#: statistics)
QUOTIENT_RANGE = {"NAQ": (0.0, 1.0), "QOQ": (0.0, 1.0)}
#: COVAREP's creak decision threshold on its posterior
CREAK_THRESHOLD = 0.3


def covarep_names() -> list[str]:
    """COVAREP's 74 exported descriptors and HRF, in the reference files' column order."""
    return descriptor_names()[:74] + ["HRF"]


def _voiced_only(name: str) -> bool:
    return name in VOICED_ONLY or name.startswith(("HMPDM_", "HMPDD_"))


@dataclass
class Pair:
    """One recording's paired frames.

    ``ours`` and ``ref`` share their index (frame number ``k``) and columns
    (:func:`covarep_names`; a descriptor vocalmind does not output is all NaN in ``ours``).
    """

    name: str
    ours: pd.DataFrame
    ref: pd.DataFrame


def load_pair(name: str, *, reference_dir: Path, data_dir: Path) -> Pair:
    """Compute vocalmind's descriptors of one reference recording and pair the frames.

    Parameters
    ----------
    name : reference file stem, a key of :data:`RECORDINGS`
    reference_dir : folder of COVAREP's CSV files
    data_dir : folder holding ``emodb/`` and ``emu/``

    Returns
    -------
    Pair
    """
    ref = pd.read_csv(reference_dir / f"{name}.csv")
    y, sr = _as_covarep_saw(data_dir / RECORDINGS[name])
    times, mat = descriptor_matrix(y, sr=sr, hrf=True)
    ours = pd.DataFrame(mat, columns=descriptor_names() + ["HRF"])
    ours.index = np.round((times - 0.005) / 0.01).astype(int)
    ref.index = np.round((ref.pop("time").to_numpy() - 0.0049375) / 0.01).astype(int)
    common = ours.index.intersection(ref.index)
    cols = covarep_names()
    ours = ours.reindex(columns=cols).loc[common]
    return Pair(name, ours, ref.loc[common, cols].astype(np.float64))


def _as_covarep_saw(path: Path) -> tuple[np.ndarray, int]:
    """The signal COVAREP analysed: 16 kHz files as they are, others through ``sox``.

    The reference's 8 kHz EMU recordings were converted by ``sox IN -r 16000 -b 16 OUT``,
    whose dither puts low-level noise in the empty 4-8 kHz band; LP whitening amplifies
    that band, so voicing decisions depend on it. The same command is run here (with
    ``-R``, sox's repeatable dither, so that the comparison is deterministic) when
    ``sox`` is installed (else the 8 kHz signal is given as is and resampled by soxr).
    """
    info = sf.info(path)
    if info.samplerate != 16000 and shutil.which("sox"):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "x.wav"
            subprocess.run(["sox", "-R", str(path), "-r", "16000", "-b", "16", str(out)],
                           check=True, capture_output=True)
            y, sr = sf.read(out, dtype="float64", always_2d=True)
    else:
        y, sr = sf.read(path, dtype="float64", always_2d=True)
    return y[:, 0], sr


def _kappa(a: np.ndarray, b: np.ndarray) -> float:
    """Cohen's kappa of two boolean vectors."""
    po = np.mean(a == b)
    pe = np.mean(a) * np.mean(b) + np.mean(~a) * np.mean(~b)
    return float((po - pe) / (1 - pe)) if pe < 1 else float("nan")


def circular_r(a: np.ndarray, b: np.ndarray) -> float:
    """Circular correlation (Jammalamadaka & SenGupta 1988) of two angle vectors (rad)."""
    ma = np.angle(np.mean(np.exp(1j * a)))
    mb = np.angle(np.mean(np.exp(1j * b)))
    sa, sb = np.sin(a - ma), np.sin(b - mb)
    den = np.sqrt(np.sum(sa * sa) * np.sum(sb * sb))
    return float(np.sum(sa * sb) / den) if den > 0 else float("nan")


def _statistics(pair: Pair) -> tuple[np.ndarray, np.ndarray]:
    """The (10, n_descriptors) statistics of both sides of a pair."""
    t = (0.005 + 0.01 * pair.ours.index.to_numpy(dtype=float))[:, None]
    ref = pair.ref.copy()
    unvoiced = ref["VUV"].to_numpy() < 0.5
    for c in ref.columns:
        if _voiced_only(c):
            ref.loc[unvoiced, c] = np.nan
    return (statistics_matrix(pair.ours.to_numpy(), t),
            statistics_matrix(ref.to_numpy(), t))


def _spearman_columns(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Spearman correlation, across recordings (rows), of each column; NaN if undefined."""
    out = np.full(ours.shape[1], np.nan)
    for j in range(ours.shape[1]):
        a, b = ours[:, j], ref[:, j]
        ok = np.isfinite(a) & np.isfinite(b)
        if ok.sum() >= 4 and np.ptp(a[ok]) > 0 and np.ptp(b[ok]) > 0:
            out[j] = stats.spearmanr(a[ok], b[ok]).statistic
    return out


def statistic_spearman(pairs: list[Pair]) -> pd.Series:
    """Spearman correlation across recordings of every ``<descriptor>_<stat>``."""
    both = [_statistics(p) for p in pairs]
    ours = np.stack([o.T.ravel() for o, _ in both])  # (recordings, descriptors * 10)
    ref = np.stack([r.T.ravel() for _, r in both])
    names = [f"{d}_{s}" for d in covarep_names() for s in STATS]
    return pd.Series(_spearman_columns(ours, ref), index=names)


def utterance_spearman(pairs: list[Pair]) -> float:
    """Median, over every defined statistic, of :func:`statistic_spearman`."""
    return float(np.nanmedian(statistic_spearman(pairs).to_numpy()))


def random_filled(pairs: list[Pair]) -> list[str]:
    """HMPD coefficients COVAREP does not fill with measurements.

    COVAREP's HMPDM bins below ~110 Hz are always 0 (no harmonic there), and where a bin
    has no harmonic it is filled with random values: a coefficient whose reference is
    zero on more than half of the voiced frames is left out of the frame-level figures.
    """
    out = []
    for c in covarep_names():
        if not c.startswith("HMPDM_"):
            continue
        v = np.concatenate([p.ref.loc[p.ref["VUV"] > 0.5, c].to_numpy() for p in pairs])
        if np.mean(v == 0) > 0.5:
            out.append(c)
    return out


def parity_table(pairs: list[Pair]) -> pd.DataFrame:
    """Per-descriptor agreement figures (see the module docstring).

    Parameters
    ----------
    pairs : paired recordings from :func:`load_pair`

    Returns
    -------
    pd.DataFrame indexed by descriptor (:func:`covarep_names`), columns ``n`` (frames
    compared), ``r``, ``rel_mae``, ``bias``, ``kappa``, ``spearman``; NaN where a figure
    does not apply or vocalmind does not output the descriptor
    """
    ours = pd.concat([p.ours for p in pairs], ignore_index=True)
    ref = pd.concat([p.ref for p in pairs], ignore_index=True)
    voiced = (ours["VUV"].to_numpy() > 0.5) & (ref["VUV"].to_numpy() > 0.5)
    sp = statistic_spearman(pairs)
    skip = set(random_filled(pairs))
    rows = {}
    for c in covarep_names():
        a, b = ours[c].to_numpy(), ref[c].to_numpy()
        row = {"n": 0, "r": np.nan, "rel_mae": np.nan, "bias": np.nan, "kappa": np.nan,
               "spearman": float(np.nanmedian(sp[[f"{c}_{s}" for s in STATS]].to_numpy()))
               if sp[[f"{c}_{s}" for s in STATS]].notna().any() else np.nan}
        if c == "VUV":
            row["kappa"] = _kappa(a > 0.5, b > 0.5)
        elif c == "creak":
            ok = np.isfinite(a) & np.isfinite(b)
            row["kappa"] = _kappa(a[ok] > CREAK_THRESHOLD, b[ok] > CREAK_THRESHOLD)
        sel = np.isfinite(a) & np.isfinite(b)
        if c not in ALL_FRAMES:
            sel &= voiced
        if c in QUOTIENT_RANGE:
            lo, hi = QUOTIENT_RANGE[c]
            with np.errstate(invalid="ignore"):
                sel &= (a >= lo) & (a <= hi) & (b >= lo) & (b <= hi)
        if c != "VUV" and c not in skip and sel.sum() > 2:
            a, b = a[sel], b[sel]
            row["n"] = int(sel.sum())
            if c.startswith("HMPDM_"):
                d = np.angle(np.exp(1j * (a - b)))
                row.update(r=circular_r(a, b), rel_mae=float(np.mean(np.abs(d)) / np.pi),
                           bias=float(np.angle(np.mean(np.exp(1j * d)))))
            else:
                r = np.corrcoef(a, b)[0, 1] if np.std(a) > 0 and np.std(b) > 0 else np.nan
                row.update(r=float(r), rel_mae=float(np.mean(np.abs(a - b))
                                                     / max(np.mean(np.abs(b)), 1e-300)),
                           bias=float(np.mean(a - b)))
        rows[c] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def voiced_fractions(pairs: list[Pair]) -> tuple[float, float]:
    """Fraction of paired frames voiced by vocalmind and by COVAREP."""
    a = np.concatenate([p.ours["VUV"].to_numpy() > 0.5 for p in pairs])
    b = np.concatenate([p.ref["VUV"].to_numpy() > 0.5 for p in pairs])
    return float(a.mean()), float(b.mean())
