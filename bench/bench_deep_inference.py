"""Inference speed of the deep families on CPU, as a real-time factor.

Real-time factor = seconds of audio processed per second of compute (model forward only,
batch 1, 10 s clips at 16 kHz; melcnn on its 128-mel log spectrogram, whose cost is
reported separately). The issue asks >= 50x on 2 cores for melcnn and wavelet.

Variants: the families' defaults, melcnn's resize mode, ``wavelet_shared`` (one BiGRU for
all bands), the ``*_emodb`` settings of the EMO-DB example configs (melcnn at a 512
hop, 8 base channels) and ``wavelet_energy`` (the network of
``examples/emodb-wavelet-energy.yaml``, read from that file).

Run: ``.venv/bin/python bench/bench_deep_inference.py [--threads 2] [--repeats 5]``
"""

from __future__ import annotations

import os

# OpenMP threads that sleep instead of spinning while they wait: on a shared 2-core machine
# spinning threads make 2-thread inference slower than 1 thread (must precede torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from vocalmind.config import load_config  # noqa: E402
from vocalmind.models import build_model  # noqa: E402
from vocalmind.training.data import logmel_db, normalise_db, split_params  # noqa: E402

#: the wavelet settings of examples/emodb-wavelet.yaml
WAVELET_EMODB = {"depth": 3, "filters": 8, "gru_hidden": 16, "pools": (4, 4, 8),
                 "embedding_dim": 32, "shared_rnn": True}


def _example_params(name: str) -> dict:
    """The network settings of an example config (validated; its data settings left out)."""
    cfg = load_config(Path(__file__).resolve().parents[1] / "examples" / name)
    return split_params(cfg.model.name, cfg.model.params)[0]


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    sec = a.seconds
    y = (0.1 * np.random.default_rng(0).standard_normal(int(16000 * sec))).astype(np.float32)
    print(f"threads={a.threads} clip={sec:g}s load average={os.getloadavg()[0]:.2f}")
    emodb_mel = lambda: normalise_db(logmel_db(y, n_mels=128, n_fft=1024,  # noqa: E731
                                               hop_length=512))[None, None]
    feats = {"melcnn_emodb": emodb_mel,
             "melcnn": lambda: normalise_db(logmel_db(y, n_mels=128, n_fft=1024,
                                                      hop_length=256))[None, None],
             "cnn_lstm": lambda: normalise_db(logmel_db(y[:80000], n_mels=40, n_fft=400,
                                                        hop_length=160))[None, :, :500]}
    variants = [("melcnn", "melcnn", {}), ("melcnn_resize", "melcnn", {"input_mode": "resize"}),
                ("melcnn_emodb", "melcnn", {"base_channels": 8, "embedding_dim": 64}),
                ("cnn_lstm", "cnn_lstm", {}), ("wavelet", "wavelet", {}),
                ("wavelet_shared", "wavelet", {"shared_rnn": True}),
                ("wavelet_emodb", "wavelet", WAVELET_EMODB),
                ("wavelet_energy", "wavelet", _example_params("emodb-wavelet-energy.yaml"))]
    for fam, name, params in variants:
        heads = {"y": 5}
        m = build_model(name, heads=heads, **params).eval()
        n_par = sum(p.numel() for p in m.parameters())
        dur = 5.0 if name == "cnn_lstm" else sec
        key = fam if fam in feats else name
        if key in feats:
            f_t = _time(feats[key], a.repeats)
            x = torch.from_numpy(feats[key]())
        else:
            f_t = 0.0
            x = torch.from_numpy(y)[None]
        with torch.inference_mode():
            m_t = _time(lambda m=m, x=x: m(x), a.repeats)
        print(f"{fam:14s} params={n_par:>9,d}  model {dur / m_t:8.1f}x real time"
              f"  (+features: {dur / (m_t + f_t):8.1f}x)")


if __name__ == "__main__":
    main()
