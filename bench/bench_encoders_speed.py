"""Extraction speed of the pretrained-encoder sets on one core, beside ComParE in the same
process: in-process CPU time (time.process_time) per second of audio (real-time factor).

    .venv/bin/python bench/bench_encoders_speed.py [--n 40]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")  # one core, as one extraction worker runs

from _report import DATA, machine, require, update_section  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=40, help="EMO-DB files (every k-th, sorted)")
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    from vocalmind.audio import load
    from vocalmind.corpora import read_corpus
    from vocalmind.features import get_feature_set

    manifest = read_corpus("emodb", require(DATA / "emodb")).sort_values("file")
    files = manifest["file"].tolist()[:: max(1, len(manifest) // args.n)][: args.n]
    signals = [load(f, sr=16_000) for f in files]
    audio_s = sum(len(y) for y in signals) / 16_000
    sets = {
        "compare (reference)": get_feature_set("compare"),
        "whisper base, up to block 3 (default)": get_feature_set("whisper", model="base"),
        "whisper base, all 6 blocks": get_feature_set("whisper", model="base", layers="all"),
        "whisper tiny.en, up to block 2 (default)": get_feature_set("whisper", model="tiny.en"),
        "speaker (GE2E embedding + layer 2)": get_feature_set("speaker"),
    }
    rows = []
    for label, fs in sets.items():
        fs.process_signal(signals[0], 16_000)  # load weights, warm caches: not throughput
        t0 = time.process_time()
        for y in signals:
            fs.process_signal(y, 16_000)
        cpu = time.process_time() - t0
        rows.append((label, cpu / audio_s))
        print(f"{label}: RTF {cpu / audio_s:.4f}", flush=True)
    ref = rows[0][1]
    cmd = f".venv/bin/python bench/bench_encoders_speed.py --n {args.n}"
    lines = ["## Pretrained encoders: extraction speed on one core", "",
             f"Command: `{cmd}` — machine: {machine()}. {len(files)} EMO-DB files "
             f"({audio_s:.0f} s of audio) decoded once; feature computation timed as in-process "
             "CPU time with one torch/BLAS thread, after one warm-up call (weights loaded). "
             "RTF = CPU seconds per second of audio; the ratio is against ComParE in the same "
             "process, which is steadier than either figure alone on a shared machine.", "",
             "| feature set | RTF (one core) | x ComParE |", "|---|---|---|"]
    lines += [f"| {label} | {rtf:.4f} | {rtf / ref:.2f} |" for label, rtf in rows]
    lines += ["", "Targets (encoders issue): Whisper base up to its middle block <= 0.02, "
              "tiny <= 0.01."]
    update_section("encoder-speed", "\n".join(lines))


if __name__ == "__main__":
    main()
