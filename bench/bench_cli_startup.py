"""How fast `vocalmind --help` and `vocalmind --version` answer (lazy imports).

Each command is run ``--repeat`` times as a fresh process; reported are the median wall time
and the median CPU time of the child process (user + system, from ``getrusage``), so a busy
shared machine shows in the wall figure but not in the CPU one. ``--src DIR`` runs the same
commands against another source tree (e.g. an older checkout exported with ``git archive``),
in the same process and interpreter, as the reference.

Usage::

    .venv/bin/python bench/bench_cli_startup.py [--repeat 7] [--src /tmp/before/src] [--write]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = (["--help"], ["--version"], ["experiment", "run", "--help"])


def timed(args: list[str], src: Path, repeat: int) -> tuple[float, float]:
    """Median (wall s, child CPU s) of ``python -c 'vocalmind.cli.main()' ARGS``."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    code = "import sys; from vocalmind.cli import main; sys.argv = ['vocalmind'] + sys.argv[1:]; main()"
    walls, cpus = [], []
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *args], env=env, check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--src", type=Path, default=None, help="reference source tree (its src/)")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()
    trees = [("this tree", ROOT / "src")] + ([("reference", args.src)] if args.src else [])
    rows = []
    for cmd in COMMANDS:
        for label, src in trees:
            wall, cpu = timed(cmd, src, args.repeat)
            rows.append((" ".join(["vocalmind", *cmd]), label, wall, cpu))
            print(f"{rows[-1][0]:34s} {label:10s} wall {wall:.3f} s  cpu {cpu:.3f} s", flush=True)
    if args.write:
        sys.path.insert(0, str(ROOT / "bench"))
        from _report import machine, update_section

        lines = [
            "## Command-line start-up (lazy imports)",
            "",
            f"Command: `.venv/bin/python bench/bench_cli_startup.py --repeat {args.repeat}"
            + (" --src <git archive of the tree before lazy imports>/src" if args.src else "")
            + f"` — machine: {machine()}. Median of {args.repeat} fresh processes; CPU = user + "
            "system time of the child.",
            "",
            "| command | tree | wall | CPU |",
            "|---|---|---|---|",
            *[f"| `{c}` | {t} | {w:.2f} s | {u:.2f} s |" for c, t, w, u in rows],
        ]
        update_section("cli_startup", "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
