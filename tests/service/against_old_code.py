"""Run today's security tests against the service code from before the security change.

Not a test module (pytest does not collect it): a script that shows each security test
failed before its fix. It makes a throw-away git worktree of ``--commit`` (default: the
commit before 0f2003d, the security change), copies today's ``test_security.py`` and its
helpers into it, applies two shims so the tests reach the old code through the HTTP API
instead of failing at set-up, runs them with ``PYTHONPATH`` on the old ``src``, prints
pytest's one-line reason per test and removes the worktree.

The shims (only in the worktree copy):

- ``make_settings`` drops settings the old code does not know (login throttles, token
  lifetime cap): the old ``Settings`` forbids unknown fields;
- ``login`` accepts a login answer without ``csrf_token`` (the old code issued none);
- ``AuditEvent`` is imported inside the one test that reads it (the old models lack it).

Usage (from the repository root)::

    .venv/bin/python tests/service/against_old_code.py [--commit b54eea9] [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    if old not in text:
        raise SystemExit(f"shim target not found in {path.name}: {old[:60]!r}")
    path.write_text(text.replace(old, new))


def shim(tree: Path) -> None:
    """Copy today's tests into ``tree`` and adapt their set-up to the old API."""
    svc = tree / "tests" / "service"
    for name in ("test_security.py", "conftest.py", "service_helpers.py"):
        shutil.copy(ROOT / "tests" / "service" / name, svc / name)
    shutil.copy(ROOT / "tests" / "_signals.py", tree / "tests" / "_signals.py")
    helpers = svc / "service_helpers.py"
    _replace(helpers, '    kw.setdefault("admin_password", ADMIN_PASSWORD)\n',
             '    kw.setdefault("admin_password", ADMIN_PASSWORD)\n'
             '    kw = {k: v for k, v in kw.items() if k in Settings.model_fields}\n')
    _replace(helpers, 'body.pop("csrf_token")', 'body.pop("csrf_token", "none-issued")')
    tests = svc / "test_security.py"
    _replace(tests, "from vocalmind.service.models import AuditEvent\n", "")
    _replace(tests, "    with client.app.state.sessions() as db:\n        actions",
             "    from vocalmind.service.models import AuditEvent\n\n"
             "    with client.app.state.sessions() as db:\n        actions")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--commit", default="b54eea9", help="old commit (default %(default)s)")
    ap.add_argument("--keep", action="store_true", help="keep the worktree")
    args = ap.parse_args()
    tree = Path(tempfile.mkdtemp(prefix="svc-old-")) / "tree"
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree),
                    args.commit], check=True, capture_output=True)
    try:
        shim(tree)
        env = dict(os.environ, PYTHONPATH=str(tree / "src"))
        probe = subprocess.run([sys.executable, "-c", "import vocalmind; print(vocalmind.__file__)"],
                               env=env, capture_output=True, text=True, check=True)
        print("vocalmind imported from", probe.stdout.strip())
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            "-rA", "--tb=line", "tests/service/test_security.py"],
                           cwd=tree, env=env, text=True, capture_output=True)
        print(r.stdout[-20000:], r.stderr[-2000:], sep="\n")
        return 0 if "passed" not in r.stdout.splitlines()[-1] else 1
    finally:
        if not args.keep:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                           check=False)
            shutil.rmtree(tree.parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
