"""Inference speed of the deep families on CPU, as a real-time factor.

Real-time factor = seconds of audio processed per second of compute (model forward only,
batch 1, 10 s clips at 16 kHz; melcnn on its 128-mel log spectrogram, whose cost is
reported separately). The issue asks >= 50x on 2 cores for melcnn and wavelet.

Run: ``.venv/bin/python bench/bench_deep_inference.py [--threads 2] [--repeats 5]``
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from vocalmind.models import build_model
from vocalmind.training.data import logmel_db, normalise_db


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
    feats = {"melcnn": lambda: normalise_db(logmel_db(y, n_mels=128, n_fft=1024,
                                                      hop_length=256))[None, None],
             "cnn_lstm": lambda: normalise_db(logmel_db(y[:80000], n_mels=40, n_fft=400,
                                                        hop_length=160))[None, :, :500]}
    for fam, heads in [("melcnn", {"y": 5}), ("melcnn_resize", {"y": 5}),
                       ("cnn_lstm", {"y": 5}), ("wavelet", {"y": 5})]:
        name = fam.split("_resize")[0] if fam != "cnn_lstm" else fam
        params = {"input_mode": "resize"} if fam == "melcnn_resize" else {}
        m = build_model(name, heads=heads, **params).eval()
        n_par = sum(p.numel() for p in m.parameters())
        dur = 5.0 if name == "cnn_lstm" else sec
        if name in feats:
            f_t = _time(feats[name], a.repeats)
            x = torch.from_numpy(feats[name]())
        else:
            f_t = 0.0
            x = torch.from_numpy(y)[None]
        with torch.inference_mode():
            m_t = _time(lambda m=m, x=x: m(x), a.repeats)
        print(f"{fam:14s} params={n_par:>9,d}  model {dur / m_t:8.1f}x real time"
              f"  (+features: {dur / (m_t + f_t):8.1f}x)")


if __name__ == "__main__":
    main()
