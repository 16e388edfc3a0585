"""Speed and memory of the 1,200 clinical features on one core, over real recordings.

Usage: ``.venv/bin/python bench/bench_clinical_speed.py [--n 30] [--long-minutes 60]
[--components 2]``.
Reads EMO-DB (16 kHz) and EMU ``audio_raw`` (8 kHz) from ``../shared/data`` (a corpus that
is absent is skipped), resamples every recording to 16 kHz beforehand, and times the full
extraction of the clinical set (descriptors + statistics,
:class:`~vocalmind.features.clinical.ClinicalSet`) and, on the same signals in the same
process, of openSMILE ComParE_2016, after one warm-up call each. The RTF is process CPU
time per second of audio (the machine is shared, so wall time is noisy), with BLAS/OpenMP
limited to one thread; the clinical / ComParE ratio is the load-independent figure.
``--long-minutes`` builds a recording of that length from EMO-DB files in a child process
and reports its peak resident memory (the signal is held in single precision). Prints
markdown tables, and the creak check: the fraction of voiced frames whose creak score is
above its threshold on EMO-DB's male speakers' neutral recordings (modal speech).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402

from vocalmind.errors import FeatureError  # noqa: E402
from vocalmind.features.clinical import ClinicalSet, clinical_descriptors  # noqa: E402
from vocalmind.features.clinical.creak import THRESHOLD  # noqa: E402

DATA = Path(os.environ.get("VOCALMIND_DATA",
                           Path(__file__).resolve().parents[1].parent / "shared" / "data"))
MALE_EMODB = ("03", "10", "11", "12", "15")


def speed_table(n: int) -> str:
    """Time clinical and ComParE on the same 16 kHz signals; a markdown table."""
    import soxr

    from vocalmind.features.base import get_feature_set

    folders = {"EMO-DB (16 kHz)": DATA / "emodb" / "wav",
               "EMU structured (8 kHz)": DATA / "emu" / "audio_raw" / "WAVs_structured",
               "EMU unstructured (8 kHz)": DATA / "emu" / "audio_raw" / "WAVs_unstructured"}
    sets = {"clinical": ClinicalSet(), "ComParE": get_feature_set("compare")}
    warm = np.sin(2 * np.pi * 120 * np.arange(16000) / 16000).astype(np.float32)
    for fs in sets.values():
        fs.process_signal(warm, 16000)  # filter designs, lookup tables, binaries loaded
    rows = ["| corpus | files | audio s | clinical CPU s | clinical RTF | ComParE RTF | "
            "ratio | FeatureError |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    tot = np.zeros(4)
    for name, folder in folders.items():
        files = sorted(folder.glob("*.wav"))[:n] if folder.is_dir() else []
        if not files:
            rows.append(f"| {name} | absent, skipped | | | | | | |")
            continue
        audio, cpu, fails = 0.0, np.zeros(2), 0
        for f in files:
            y, sr = sf.read(f, dtype="float32", always_2d=True)
            y = y[:, 0]
            if sr != 16000:
                y = soxr.resample(y, sr, 16000).astype(np.float32)
            for i, fs in enumerate(sets.values()):
                t_c = time.process_time()
                try:
                    fs.process_signal(y, 16000)
                except FeatureError:
                    fails += i == 0
                cpu[i] += time.process_time() - t_c
            audio += len(y) / 16000
        rows.append(f"| {name} | {len(files)} | {audio:.1f} | {cpu[0]:.2f} | "
                    f"{cpu[0] / audio:.4f} | {cpu[1] / audio:.4f} | {cpu[0] / cpu[1]:.2f} | "
                    f"{fails} |")
        tot += (len(files), audio, cpu[0], cpu[1])
    if tot[1]:
        rows.append(f"| **all** | {tot[0]:.0f} | {tot[1]:.1f} | {tot[2]:.2f} | "
                    f"**{tot[2] / tot[1]:.4f}** | {tot[3] / tot[1]:.4f} | "
                    f"{tot[2] / tot[3]:.2f} | |")
    return "\n".join(rows)


_LONG_CHILD = """
import os, resource, sys, time
os.environ["OMP_NUM_THREADS"] = "1"; os.environ["OPENBLAS_NUM_THREADS"] = "1"
import numpy as np, soundfile as sf
from pathlib import Path
from vocalmind.features.clinical import ClinicalSet
minutes, folder = float(sys.argv[1]), Path(sys.argv[2])
n = int(minutes * 60 * 16000)
y = np.zeros(n, dtype=np.float32)
pos = 0
files = sorted(folder.glob("*.wav"))
while pos < n:
    for f in files:
        z, _ = sf.read(f, dtype="float32")
        k = min(len(z), n - pos)
        y[pos:pos + k] = z[:k]
        pos += k
        if pos >= n:
            break
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.process_time()
v = ClinicalSet().process_signal(y, 16000)
cpu = time.process_time() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(f"{minutes:g}|{before:.0f}|{peak:.0f}|{cpu:.1f}|{np.isfinite(v).mean():.3f}")
"""


def long_recording(minutes: float) -> str:
    """Peak RSS of the clinical set on one long recording (child process); a table row."""
    import subprocess
    import sys

    folder = DATA / "emodb" / "wav"
    if not folder.is_dir():
        return "long recording: EMO-DB absent, skipped"
    out = subprocess.run([sys.executable, "-c", _LONG_CHILD, str(minutes), str(folder)],
                         capture_output=True, text=True, check=True).stdout.strip()
    m, before, peak, cpu, fin = out.splitlines()[-1].split("|")
    return ("| minutes | RSS with the signal loaded (MB) | peak RSS (MB) | CPU s | RTF | "
            "finite features |\n|---:|---:|---:|---:|---:|---:|\n"
            f"| {m} | {before} | {peak} | {cpu} | {float(cpu) / (float(m) * 60):.4f} | "
            f"{fin} |")


def creak_check(n: int) -> str:
    """Creak-score frame fraction above threshold on EMO-DB male neutral recordings."""
    if n <= 0:
        return "creak check: skipped (--creak-n 0)"
    folder = DATA / "emodb" / "wav"
    files = [f for s in MALE_EMODB for f in sorted(folder.glob(f"{s}*N*.wav"))[:n]] \
        if folder.is_dir() else []
    if not files:
        return "creak check: EMO-DB absent, skipped"
    fr, sc = [], []
    for f in files:
        y, sr = sf.read(f, dtype="float32")
        df = clinical_descriptors(y, sr=sr)
        c = df.loc[df["VUV"] > 0, "creak"].to_numpy()
        fr.append(np.mean(c > THRESHOLD))
        sc.append(np.mean(c))
    return (f"creak on EMO-DB male neutral speech ({len(files)} files, voiced frames): "
            f"fraction above {THRESHOLD} = {np.mean(fr):.3f} mean, {np.max(fr):.3f} max "
            f"per file; mean score {np.mean(sc):.3f}")


#: (module attribute of descriptors.py, function names) timed by --components
_COMPONENTS = (
    ("_hmpd", ("hmpd_covarep",)), ("_mcep", ("env_te", "pitch_adaptive_spectra",
                                             "mcep_covarep")),
    ("_sins", ("harmonics",)), ("_rd", ("rd_msp",)),
    ("_glottal", ("iaif_gci", "cycle_params", "vq_harmonics", "mdq", "peak_slope",
                  "first_cycle_params", "sedreams_intervals")),
    ("_f0", ("polarity_moments", "srh_spectra", "srh_scores", "srh_pick")),
    ("_creak", ("creak_score", "pass1", "power_peaks", "pass2", "features", "posterior")),
    ("_formants", ("formants", "peak_to_rms")), ("_mfcc", ("mfcc_deltas", "mel_db")),
)


def component_table(n: int, reps: int = 3) -> str:
    """CPU seconds per pipeline component (wrapped in-process timers; least of ``reps``
    passes over 2n EMO-DB and n + n EMU recordings); a markdown table. With ``PYTHONPATH``
    set to an older checkout's ``src`` it times that code (components it lacks are left
    out)."""
    import collections
    import functools

    import soxr

    from vocalmind.features.clinical import descriptors as dm

    acc: collections.Counter = collections.Counter()

    def timed(name, fn):
        @functools.wraps(fn)
        def run(*a, **k):
            t = time.process_time()
            try:
                return fn(*a, **k)
            finally:
                acc[name] += time.process_time() - t
        return run

    saved = []
    for mod_name, names in _COMPONENTS:
        mod = getattr(dm, mod_name, None)  # an older checkout may lack a module
        for name in names:
            if mod is not None and hasattr(mod, name):
                saved.append((mod, name, getattr(mod, name)))
                setattr(mod, name, timed(name, getattr(mod, name)))
    saved.append((dm, "lpc_residuals", dm.lpc_residuals))
    dm.lpc_residuals = timed("lpc_residuals", dm.lpc_residuals)
    try:
        files = []
        for sub, k in (("emodb/wav", 2 * n), ("emu/audio_raw/WAVs_structured", n),
                       ("emu/audio_raw/WAVs_unstructured", n)):
            folder = DATA / sub
            files += sorted(folder.glob("*.wav"))[:k] if folder.is_dir() else []
        if not files:
            return "components: data absent, skipped"
        ys = []
        for f in files:
            y, sr = sf.read(f, dtype="float32")
            ys.append(y if sr == 16000 else soxr.resample(y, sr, 16000).astype(np.float32))
        audio = sum(len(y) for y in ys) / 16000
        dm.descriptor_matrix(ys[0])
        best: dict[str, float] = {}
        for _ in range(reps):
            acc.clear()
            t = time.process_time()
            for y in ys:
                dm.descriptor_matrix(y)
            acc["all descriptors"] = time.process_time() - t
            best = {k: min(v, best.get(k, np.inf)) for k, v in acc.items()}
    finally:
        for mod, name, fn in saved:
            setattr(mod, name, fn)
    rows = [f"components ({len(files)} recordings, {audio:.1f} s of audio, least of {reps} "
            "passes):", "", "| component | CPU s | RTF | share |", "|---|---:|---:|---:|"]
    tot = best["all descriptors"]
    for k, v in sorted(best.items(), key=lambda kv: -kv[1]):
        rows.append(f"| {k} | {v:.3f} | {v / audio:.4f} | {100 * v / tot:.0f} % |")
    rest = tot - sum(v for k, v in best.items() if k != "all descriptors")
    rows.append(f"| (the rest) | {rest:.3f} | {rest / audio:.4f} | {100 * rest / tot:.0f} % |")
    return "\n".join(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=30,
                    help="recordings per corpus folder (0: no speed table)")
    ap.add_argument("--creak-n", type=int, default=3, help="neutral files per male speaker")
    ap.add_argument("--long-minutes", type=float, default=0.0,
                    help="also measure peak memory on one recording this long (minutes)")
    ap.add_argument("--components", type=int, default=0,
                    help="also time each pipeline component on 2N EMO-DB and N + N EMU files")
    args = ap.parse_args()
    print("clinical feature set, 1,200 features, one thread; target RTF (CPU) <= 0.02\n")
    if args.n > 0:
        print(speed_table(args.n))
        print()
    if args.components > 0:
        print(component_table(args.components))
        print()
    if args.long_minutes > 0:
        print(long_recording(args.long_minutes))
        print()
    print(creak_check(args.creak_n))


if __name__ == "__main__":
    main()
