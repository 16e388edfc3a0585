"""The package's import graph has no cycle among vocalmind modules.

Every ``import vocalmind...`` / ``from vocalmind... import`` statement counts, also those
inside functions (a lazy import is still a dependency); imports under
``if TYPE_CHECKING:`` do not (they never run). ``from vocalmind.pkg import name`` points at
``vocalmind.pkg.name`` when that is a module, else at ``vocalmind.pkg``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import vocalmind

SRC = Path(vocalmind.__file__).resolve().parent


def _modules() -> dict[str, Path]:
    out = {}
    for p in SRC.rglob("*.py"):
        rel = p.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If):
            test = node.test
            name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", "")
            if name == "TYPE_CHECKING":
                for sub in node.body:
                    for n in ast.walk(sub):
                        if hasattr(n, "lineno"):
                            lines.add(n.lineno)
    return lines


def import_graph() -> dict[str, set[str]]:
    """module -> the vocalmind modules it imports (anywhere in its code)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = mod.split(".") if is_pkg else mod.split(".")[:-1]
                    base = base[: len(base) - node.level + 1]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    targets.append(sub if sub in mods else src)
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t and t != mod and t.startswith("vocalmind"):
                    graph[mod].add(t)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    import sys

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _a_cycle(graph: dict[str, set[str]], comp: list[str]) -> list[str]:
    """One concrete cycle inside a strongly connected component, for the message."""
    members = set(comp)
    start = comp[0]
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & members):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return comp


def test_the_graph_is_read() -> None:
    g = import_graph()
    assert "vocalmind.experiment" in g and "vocalmind.config" in g["vocalmind.experiment"]
    # lazy (function-level) imports count
    assert "vocalmind.features.extract" in g["vocalmind.recipe"]


def test_cycle_finder_finds_a_planted_cycle() -> None:
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycles() -> None:
    g = import_graph()
    cycles = find_cycles(g)
    msg = "\n".join(" -> ".join(_a_cycle(g, c)) for c in cycles)
    assert not cycles, f"import cycles among vocalmind modules:\n{msg}"


def test_entry_points_are_lazy_and_importable() -> None:
    import subprocess
    import sys

    code = ("import sys, vocalmind; heavy = [m for m in ('torch', 'sklearn', 'opensmile') "
            "if m in sys.modules]; print(heavy); "
            "print(vocalmind.run_experiment.__module__, vocalmind.extract_features.__module__, "
            "vocalmind.assess.__module__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split("\n")
    assert out[0] == "[]"  # importing the package imports no heavy library
    assert out[1] == "vocalmind.experiment vocalmind.features.extract vocalmind.assess"
    assert {"run_experiment", "extract_features", "assess"} <= set(dir(vocalmind))


def test_a_script_without_main_guard_runs_workers(tmp_path: Path) -> None:
    """Worker processes (forkserver/spawn) never re-run the calling script."""
    import subprocess
    import sys

    import numpy as np
    import soundfile as sf

    t = np.arange(16000) / 16000
    for i in range(3):
        sf.write(tmp_path / f"a{i}.wav",
                 (0.3 * np.sin(2 * np.pi * (150 + 20 * i) * t)).astype(np.float32), 16000)
    script = tmp_path / "script.py"
    script.write_text(
        "import vocalmind\n"
        f"files = [r'{tmp_path}/a0.wav', r'{tmp_path}/a1.wav', r'{tmp_path}/a2.wav']\n"
        "res = vocalmind.extract_features(files, 'egemaps', n_jobs=2, progress=False)\n"
        "print('RAN', res.features.shape, len(res.failures))\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.count("RAN") == 1 and "RAN (3, 88) 0" in proc.stdout
