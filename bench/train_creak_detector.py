"""Train vocalmind's creak network on COVAREP's creak posteriors (issue 11).

Usage::

    # 1. labels (needs GNU Octave with its signal package and a COVAREP checkout; neither
    #    is part of vocalmind): COVAREP's 36 creak features of each training recording and
    #    COVAREP's own network's posterior on them, saved under .cache/creak_labels/
    .venv/bin/python bench/train_creak_detector.py label --covarep /path/to/covarep
    # 2. training (vocalmind only): vocalmind's 36 creak features of the same recordings,
    #    a small network fitted to the posteriors, written to
    #    src/vocalmind/features/clinical/creak_net.npz (its sha256 printed: put it in
    #    creak.NET_SHA256)
    .venv/bin/python bench/train_creak_detector.py train

Training recordings (none is a COVAREP parity recording; speakers 03, 08, 10, 13, 16 and
EMU ids 1367, 2819 are left out entirely): the 47 other EMU free-speech recordings
(``emu/audio_raw/WAVs_unstructured``, 8 kHz, converted to 16 kHz 16-bit by
``sox -R`` as the parity benchmark does) and the 40 EMO-DB utterances of
:data:`EMODB` (speakers 09, 11, 12, 14, 15, mostly boredom, neutral and sadness, where
creak is common). Labels: COVAREP's creak posterior of every 10 ms creak frame (its
``detect_creaky_voice`` output before interpolation), used as soft targets. COVAREP's
network and code stay outside this repository: the label step runs them from the
checkout given, with three MATLAB-only calls replaced by small shims written here
(``lpc``: autocorrelation LPC; ``smooth``: moving average with shrinking ends; the
network's forward pass: tansig then logsig layers, in Python). Labels derive from the
shared corpora and are not committed.

The network: 36 inputs (non-finite values filled with the training median, standardised,
clipped to +-8), one tanh hidden layer, a logistic output; fitted by L-BFGS to the soft
labels (cross-entropy plus an L2 penalty). The hidden size and penalty are chosen by
5-fold cross-validation grouped by speaker (frame kappa at 0.3).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402
from scipy.optimize import minimize  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import DATA, ROOT, require  # noqa: E402

from vocalmind.features.clinical import creak, parity  # noqa: E402

LABELS = ROOT / ".cache" / "creak_labels"
PARITY_EMU = ("1367", "2819")
EMODB = ("14b01Ac 12a05Ta 12b10Ld 12b01Ta 12a02Ac 12a02Nb 15a02Wb 11a04Wc 11b02Td 15b02Lb "
         "09a05Nb 11a02Nc 09a01Wb 11b09Ld 15a07Eb 14a02Nc 11a01Nd 14b09Wc 15a07Fa 09a05Lc "
         "14a05Fb 14a05Lb 14a02La 15b03Lc 09b01Na 15a07Ld 15b02Nd 15b03Aa 14b10Eb 12b09Wc "
         "15b10Nb 15b03Tc 12b09Td 11b09Td 14a01Ea 12a05Ab 15b09Fa 09b03Nb 12a05Nd 09b10Nd"
         ).split()
HIDDEN = (8, 16, 32)
L2 = (1e-5, 1e-4)
CLIP = 8.0


def recordings() -> list[tuple[str, Path, str]]:
    """(name, audio path, speaker) of every training recording."""
    emu = require(DATA / "emu" / "audio_raw" / "WAVs_unstructured")
    out = [(f"emu_{p.stem}", p, f"emu{p.stem}") for p in sorted(emu.glob("*.wav"))
           if p.stem not in PARITY_EMU]
    emodb = require(DATA / "emodb" / "wav")
    out += [(f"emodb_{s}", emodb / f"{s}.wav", f"emodb{s[:2]}") for s in EMODB]
    return out


def load16k(path: Path) -> np.ndarray:
    """The recording at 16 kHz as the COVAREP parity benchmark gives it to both sides.

    EMU's 8 kHz files go through ``sox -R IN -r 16000 -b 16 OUT`` (as COVAREP's reference
    frames were made; the dither is the only content of the 4-8 kHz band, and COVAREP's
    detector behaves very differently without it), EMO-DB's 16 kHz files are read as
    they are.
    """
    y, sr = parity._as_covarep_saw(path)
    if sr != 16000:
        y = soxr.resample(y, sr, 16000)
    return y.astype(np.float32)


_SHIMS = {
    "lpc.m": """function [a, g] = lpc(x, p)
x = x(:); m = length(x); r = zeros(p+1,1);
for k = 0:p, r(k+1) = sum(x(1:m-k).*x(1+k:m)) / m; end
a = zeros(1,p+1); a(1) = 1; e = r(1);
for i = 1:p
  if e == 0, break; end
  acc = r(i+1) + sum(a(2:i) .* r(i:-1:2).');
  k = -acc/e; prev = a;
  for j = 1:i-1, a(j+1) = prev(j+1) + k*prev(i-j+1); end
  a(i+1) = k; e = e*(1-k^2);
end
g = e;
end
""",
    "smooth.m": """function y = smooth(x, N)
if rem(N,2)==0, N = N-1; end
x = x(:); n = length(x); y = x; h = (N-1)/2;
for m = 1:n, k = min([h, m-1, n-m]); y(m) = mean(x(m-k:m+k)); end
end
""",
    "dump_creak_features.m": """function dump_creak_features(listfile, outdir)
lines = strsplit(strtrim(fileread(listfile)), "\\n");
for i = 1:numel(lines)
  parts = strsplit(lines{i}, "\\t"); outf = [outdir '/' parts{1} '.txt'];
  if exist(outf, 'file'), continue; end
  [x, fs] = audioread(parts{2});
  F = get_all_creak_features(x(:,1), fs);
  dlmwrite(outf, F, 'delimiter', ' ', 'precision', '%.9g');
  printf('%s %d\\n', parts{1}, size(F,1)); fflush(stdout);
end
end
""",
}


def covarep_posterior(feats: np.ndarray, covarep: Path) -> np.ndarray:
    """COVAREP's network (read from the checkout, never copied) on its own 36 features."""
    import scipy.io as sio

    d = covarep / "glottalsource" / "creaky_voice_detection" / "private"
    net = sio.loadmat(d / "system_net_creak.mat", struct_as_record=False,
                      squeeze_me=True)["net"]
    mx = sio.loadmat(d / "maxis_creak.mat", squeeze_me=True)["Maxis"]
    mn = sio.loadmat(d / "minis_creak.mat", squeeze_me=True)["Minis"]
    z = np.where(np.isnan(feats), mn, feats)
    z = -1 + (z - mn) / (mx - mn) * 2
    hid = np.tanh(z @ net.IW[0].T + net.b[0])
    return 1 / (1 + np.exp(-(hid @ net.LW[1, 0] + net.b[1])))


def label(covarep: Path) -> None:
    LABELS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        for name, text in _SHIMS.items():
            (t / name).write_text(text)
        lines = []
        for name, path, _ in recordings():
            if (LABELS / f"{name}.npz").exists():
                continue
            wav = t / f"{name}.wav"
            sf.write(wav, load16k(path), 16000, subtype="FLOAT")
            lines.append(f"{name}\t{wav}")
        if lines:
            (t / "list.txt").write_text("\n".join(lines) + "\n")
            paths = [t, covarep / "glottalsource",
                     covarep / "glottalsource" / "creaky_voice_detection" / "private",
                     covarep / "external" / "voicebox"]
            script = ("pkg load signal; warning('off','all'); "
                      + "".join(f"addpath('{p}'); " for p in paths)
                      + f"dump_creak_features('{t / 'list.txt'}', '{t}');")
            subprocess.run(["octave", "--no-gui", "-q", "--eval", script], check=True)
        for name, path, _ in recordings():
            f = t / f"{name}.txt"
            if f.exists():
                post = covarep_posterior(np.loadtxt(f, ndmin=2), covarep)
                np.savez(LABELS / f"{name}.npz", posterior=post, source=str(path))
    print(f"labels in {LABELS}")


def dataset() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """vocalmind's inputs, COVAREP's posteriors and the speaker of every creak frame."""
    xs, ys, gs, names = [], [], [], []
    for name, path, spk in recordings():
        f = LABELS / f"{name}.npz"
        if not f.exists():
            continue
        post = np.load(f)["posterior"]
        feats = creak.recording_inputs(load16k(path))
        m = min(len(post), len(feats))
        # COVAREP's network gives NaN where one of its inputs is infinite (log of a
        # digitally silent frame); COVAREP then reports 0, but such frames teach nothing
        ok = np.isfinite(post[:m])
        xs.append(feats[:m][ok])
        ys.append(post[:m][ok])
        gs.append(np.full(int(ok.sum()), spk))
        names.append(name)
    if not xs:
        sys.exit(f"no labels in {LABELS}: run the label step first")
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(gs), names


def _pack(w1, b1, w2, b2):
    return np.concatenate([w1.ravel(), b1, w2.ravel(), [b2]])


def _unpack(p, d, h):
    w1 = p[: d * h].reshape(d, h)
    b1 = p[d * h : d * h + h]
    w2 = p[d * h + h : d * h + 2 * h]
    return w1, b1, w2, p[-1]


def fit(z: np.ndarray, y: np.ndarray, hidden: int, l2: float, seed: int = 0,
        iters: int = 400) -> np.ndarray:
    """Network parameters minimising mean soft cross-entropy + l2 * |weights|^2."""
    d = z.shape[1]
    rng = np.random.default_rng(seed)
    p0 = _pack(rng.normal(0, 1 / np.sqrt(d), (d, hidden)), np.zeros(hidden),
               rng.normal(0, 1 / np.sqrt(hidden), hidden), 0.0)
    n = len(y)

    def loss(p):
        w1, b1, w2, b2 = _unpack(p, d, hidden)
        a = np.tanh(z @ w1 + b1)
        o = a @ w2 + b2
        # soft cross-entropy with logits: log(1 + e^o) - y o
        ce = np.mean(np.logaddexp(0, o) - y * o)
        reg = l2 * (np.sum(w1 ** 2) + np.sum(w2 ** 2))
        g_o = (1 / (1 + np.exp(-o)) - y) / n
        g_w2 = a.T @ g_o + 2 * l2 * w2
        g_b2 = g_o.sum()
        g_a = np.outer(g_o, w2) * (1 - a ** 2)
        g_w1 = z.T @ g_a + 2 * l2 * w1
        g_b1 = g_a.sum(axis=0)
        return ce + reg, _pack(g_w1, g_b1, g_w2, g_b2)

    r = minimize(loss, p0, jac=True, method="L-BFGS-B", options={"maxiter": iters})
    return r.x


def prepare(x: np.ndarray) -> dict[str, np.ndarray]:
    """Fill values and standardisation of the inputs (training set statistics)."""
    fin = np.where(np.isfinite(x), x, np.nan)
    fill = np.nanmedian(fin, axis=0)
    filled = np.where(np.isfinite(x), x, fill)
    scale = filled.std(axis=0)
    return {"fill": fill, "mean": filled.mean(axis=0), "scale": np.where(scale > 0, scale, 1.0)}


def standardise(x: np.ndarray, st: dict[str, np.ndarray]) -> np.ndarray:
    z = (np.where(np.isfinite(x), x, st["fill"]) - st["mean"]) / st["scale"]
    return np.clip(z, -CLIP, CLIP)


def predict(p: np.ndarray, z: np.ndarray, hidden: int) -> np.ndarray:
    w1, b1, w2, b2 = _unpack(p, z.shape[1], hidden)
    return 1 / (1 + np.exp(-(np.tanh(z @ w1 + b1) @ w2 + b2)))


def kappa(a: np.ndarray, b: np.ndarray) -> float:
    po = np.mean(a == b)
    pe = a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())
    return float((po - pe) / (1 - pe)) if pe < 1 else float("nan")


def train(out: Path) -> None:
    x, y, g, names = dataset()
    spk = np.unique(g)
    print(f"{len(names)} recordings, {len(spk)} speakers, {len(y)} frames, "
          f"{int((y > creak.THRESHOLD).sum())} with COVAREP posterior > {creak.THRESHOLD}")
    rng = np.random.default_rng(0)
    fold_of = dict(zip(rng.permutation(spk), np.arange(len(spk)) % 5, strict=True))
    folds = np.array([fold_of[s] for s in g])
    best = None
    for hidden in HIDDEN:
        for l2 in L2:
            pred = np.zeros(len(y))
            for k in range(5):
                tr, te = folds != k, folds == k
                st = prepare(x[tr])
                p = fit(standardise(x[tr], st), y[tr], hidden, l2)
                pred[te] = predict(p, standardise(x[te], st), hidden)
            kap = kappa(pred > creak.THRESHOLD, y > creak.THRESHOLD)
            r = float(np.corrcoef(pred, y)[0, 1])
            print(f"hidden {hidden:2d} l2 {l2:g}: grouped 5-fold kappa {kap:.3f}, r {r:.3f}",
                  flush=True)
            if best is None or kap > best[0]:
                best = (kap, hidden, l2)
    _, hidden, l2 = best
    st = prepare(x)
    p = fit(standardise(x, st), y, hidden, l2)
    w1, b1, w2, b2 = _unpack(p, x.shape[1], hidden)
    np.savez(out, fill=st["fill"], mean=st["mean"], scale=st["scale"], clip=np.array(CLIP),
             w1=w1, b1=b1, w2=w2[:, None], b2=np.array([b2]))
    sha = hashlib.sha256(out.read_bytes()).hexdigest()
    print(f"chosen hidden {hidden}, l2 {l2:g}; wrote {out}\nsha256 {sha}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="step", required=True)
    lab = sub.add_parser("label", help="COVAREP's posteriors of the training recordings")
    lab.add_argument("--covarep", type=Path, required=True, help="a COVAREP checkout")
    tr = sub.add_parser("train", help="fit the network to the labels")
    tr.add_argument("--out", type=Path, default=creak.NET_FILE)
    args = ap.parse_args()
    if args.step == "label":
        label(args.covarep)
    else:
        train(args.out)


if __name__ == "__main__":
    main()
