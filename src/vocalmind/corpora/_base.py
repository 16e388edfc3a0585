"""Shared machinery of the corpus readers: the registry, file discovery and failure reports.

A reader is a function ``reader(root: Path, **options) -> pd.DataFrame`` registered under a
corpus name with :func:`register`. It collects rows in a :class:`Rows` object, which also
records the files it had to skip and why; :meth:`Rows.manifest` turns them into a manifest
with the failures in ``df.attrs["failures"]`` (a list of ``{"file", "reason"}``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import soundfile as sf

from vocalmind.corpora.manifest import make_manifest
from vocalmind.errors import ConfigError, CorpusError, ManifestError, ParameterError

Reader = Callable[..., pd.DataFrame]


@dataclass(frozen=True)
class CorpusSpec:
    """A registered corpus: its reader, language and the layout it expects (for errors)."""

    name: str
    reader: Reader
    language: str | None
    layout: str
    description: str


REGISTRY: dict[str, CorpusSpec] = {}


def register(
    name: str, *, language: str | None, layout: str, description: str
) -> Callable[[Reader], Reader]:
    """Register a reader function under ``name`` (decorator)."""

    def deco(fn: Reader) -> Reader:
        if name in REGISTRY:
            raise ParameterError(f"register: corpus reader {name!r} registered twice")
        REGISTRY[name] = CorpusSpec(name, fn, language, layout, description)
        return fn

    return deco


def wrong_root(name: str, root: Path, detail: str) -> CorpusError:
    """A CorpusError that says what the root should have looked like."""
    spec = REGISTRY.get(name)
    expected = f"; expected layout: {spec.layout}" if spec else ""
    return CorpusError(f"{root} does not look like the {name} corpus: {detail}{expected}")


def check_root(name: str, root: str | Path) -> Path:
    """Resolve ``root`` and check it is a folder."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise wrong_root(name, path, "no such folder")
    return path.resolve()


def _hidden(path: Path, root: Path) -> bool:
    # macOS archive debris (__MACOSX/, "._x.wav" AppleDouble files) and dot-files are not
    # recordings; they are skipped without being reported.
    rel = path.relative_to(root).parts
    return any(p.startswith(".") or p == "__MACOSX" for p in rel)


def find_files(root: Path, pattern: str = "*.wav", *, recursive: bool = True) -> list[Path]:
    """Files under ``root`` matching ``pattern`` (case-insensitive suffix), sorted, no debris."""
    it: Iterator[Path] = root.rglob("*") if recursive else root.glob("*")
    rx = re.compile(_glob_to_regex(pattern), re.IGNORECASE)
    return sorted(p for p in it if p.is_file() and rx.fullmatch(p.name) and not _hidden(p, root))


def _glob_to_regex(pattern: str) -> str:
    return "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)


def find_named(root: Path, name: str) -> Path | None:
    """First file under ``root`` whose name equals ``name`` ignoring case (shallowest first)."""
    hits = [
        p for p in root.rglob("*")
        if p.is_file() and p.name.lower() == name.lower() and not _hidden(p, root)
    ]
    return min(hits, key=lambda p: (len(p.parts), str(p))) if hits else None


def audio_problem(path: Path) -> str | None:
    """Why ``path`` is not a usable recording, or None; reads the header only."""
    try:
        info = sf.info(str(path))
    except (RuntimeError, sf.LibsndfileError) as e:  # libsndfile: not audio / corrupt
        return f"unreadable audio ({str(e).splitlines()[0][:120]})"
    except OSError as e:
        return f"cannot open ({e.strerror or e})"
    if info.frames <= 0:
        return "empty recording (0 samples)"
    return None


@dataclass
class Rows:
    """Rows of a manifest under construction plus the files skipped on the way."""

    corpus: str
    root: Path
    check_audio: bool = True
    rows: list[dict[str, Any]] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)
    _checked: dict[Path, str | None] = field(default_factory=dict)

    def fail(self, file: str | Path, reason: str) -> None:
        """Record a skipped file and why."""
        self.failures.append({"file": str(file), "reason": reason})

    def usable(self, file: Path) -> bool:
        """True if ``file`` can be used; otherwise record why not (once per file)."""
        if not file.is_file():
            if file not in self._checked:
                self._checked[file] = "missing file"
                self.fail(file, "missing file")
            return False
        if not self.check_audio:
            return True
        if file not in self._checked:
            problem = audio_problem(file)
            self._checked[file] = problem
            if problem:
                self.fail(file, problem)
        return self._checked[file] is None

    def add(self, file: Path, **values: Any) -> None:
        """Add a row for ``file`` if it is usable (language/corpus defaults filled in)."""
        if not self.usable(file):
            return
        spec = REGISTRY.get(self.corpus)
        row: dict[str, Any] = {"file": str(file), "corpus": self.corpus}
        if spec and spec.language:
            row["language"] = spec.language
        row.update(values)
        self.rows.append(row)

    def manifest(self) -> pd.DataFrame:
        """The manifest of the collected rows; failures in ``df.attrs["failures"]``.

        Raises
        ------
        CorpusError
            If no recording at all was found (wrong root).
        """
        if not self.rows:
            reasons = f" ({len(self.failures)} files skipped, e.g. {self.failures[:2]})" if self.failures else ""
            raise wrong_root(self.corpus, self.root, f"no usable recordings found{reasons}")
        try:
            df = make_manifest(self.rows)
        except ManifestError as e:
            raise CorpusError(f"{self.root}: {self.corpus}: {e}") from None
        df = df.sort_values(["file", "start"], na_position="first", kind="stable").reset_index(drop=True)
        df.attrs["failures"] = list(self.failures)
        df.attrs["corpus"] = self.corpus
        df.attrs["root"] = str(self.root)
        return df


def check_choice(name: str, value: Any, choices: Mapping[str, Any] | tuple[Any, ...]) -> None:
    """Raise :class:`~vocalmind.errors.ConfigError` naming the reader option if ``value`` is
    not among ``choices`` (a ``ValueError`` too)."""
    if value not in choices:
        raise ConfigError(f"corpus reader option {name}={value!r} is not one of {sorted(map(str, choices))}")


def read_csv_checked(path: Path, **kwargs: Any) -> pd.DataFrame:
    """Read a metadata CSV; CorpusError naming the file when it cannot be parsed."""
    try:
        return pd.read_csv(path, **kwargs)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as e:
        raise CorpusError(f"{path}: cannot read table ({str(e).splitlines()[0]})") from None
