"""The feature cache: keys follow content and every setting; entries are written atomically."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import vocalmind
from vocalmind.features import cache as cache_mod
from vocalmind.features.cache import FeatureCache, cache_key, file_digest

FS = {"name": "egemaps", "config": "eGeMAPSv02"}
PP = {"normalize": "none"}


def _key(digest: str, **kw: object) -> str:
    args: dict = {"start": None, "end": None, "feature_settings": FS, "preprocess_settings": PP}
    args.update(kw)
    return cache_key(digest, **args)


def test_key_follows_content_not_path(tmp_path: Path) -> None:
    a = tmp_path / "a.wav"
    a.write_bytes(b"RIFF" + bytes(range(200)))
    b = tmp_path / "renamed.wav"
    shutil.copy(a, b)
    assert _key(file_digest(a)) == _key(file_digest(b))
    c = tmp_path / "c.wav"
    c.write_bytes(b"RIFF" + bytes(range(199)) + b"\x00")
    assert _key(file_digest(c)) != _key(file_digest(a))


def test_digest_sees_an_edited_file(tmp_path: Path) -> None:
    p = tmp_path / "x.wav"
    p.write_bytes(b"one content")
    d1 = file_digest(p)
    p.write_bytes(b"another content, longer")
    assert file_digest(p) != d1


def test_digest_is_memoised_per_path_size_mtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = tmp_path / "x.wav"
    p.write_bytes(b"content" * 1000)
    file_digest(p)
    calls = []
    real_open = open
    monkeypatch.setattr(cache_mod, "open", lambda *a, **k: calls.append(a) or real_open(*a, **k), raising=False)
    file_digest(p)
    assert calls == []


@pytest.mark.parametrize(
    "change",
    [
        {"start": 0.5},
        {"end": 1.0},
        {"feature_settings": {**FS, "config": "ComParE_2016"}},
        {"preprocess_settings": {"normalize": "peak", "peak_db": -1.0}},
        {"preprocess_settings": {"normalize": "none", "denoise": True}},
    ],
)
def test_key_changes_with_every_setting(change: dict) -> None:
    assert _key("0" * 64, **change) != _key("0" * 64)


def test_key_changes_with_version(monkeypatch: pytest.MonkeyPatch) -> None:
    before = _key("0" * 64)
    monkeypatch.setattr(vocalmind, "__version__", "99.0")
    assert _key("0" * 64) != before


def test_nan_and_none_bounds_are_the_same_key() -> None:
    assert _key("0" * 64, start=float("nan"), end=float("nan")) == _key("0" * 64)


def test_put_get_and_damaged_entries(tmp_path: Path) -> None:
    c = FeatureCache(tmp_path / "cache")
    k = "ab" * 32
    assert c.get(k) is None
    c.put(k, np.array([1.0, np.nan, 3.0]))
    np.testing.assert_array_equal(c.get(k, n_features=3), [1.0, np.nan, 3.0])
    assert c.get(k, n_features=4) is None  # wrong length = miss
    assert len(c) == 1
    assert not list(c.directory.rglob("*.part"))  # no temporary files left
    c.path(k).write_bytes(b"garbage")
    assert c.get(k) is None


def test_changed_feature_code_is_never_served_from_the_cache(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The key carries the digest of the set's source: a cached vector computed by an earlier
    implementation of the set is not returned after its code changed (same version)."""
    import importlib
    import sys

    import soundfile as sf

    from vocalmind.features.base import source_digest
    from vocalmind.features.extract import extract_features

    src = tmp_path / "pkg_fs_under_test.py"
    body = ("import numpy as np\nfrom vocalmind.features.base import FeatureSet\n"
            "class ConstSet(FeatureSet):\n    name = 'const'\n"
            "    def names(self):\n        return ['v']\n"
            "    def process_signal(self, y, sr):\n        return np.array([{v}])\n")
    src.write_text(body.format(v=1.0))
    monkeypatch.syspath_prepend(str(tmp_path))
    wav = tmp_path / "a.wav"
    sf.write(wav, 0.1 * np.sin(np.arange(16000) / 5.0), 16000)
    mod = importlib.import_module("pkg_fs_under_test")
    try:
        first = extract_features([wav], mod.ConstSet(), cache_dir=tmp_path / "cache")
        src.write_text(body.format(v=2.0))
        source_digest.cache_clear()
        mod = importlib.reload(mod)
        second = extract_features([wav], mod.ConstSet(), cache_dir=tmp_path / "cache")
    finally:
        sys.modules.pop("pkg_fs_under_test", None)
        source_digest.cache_clear()
    assert float(np.asarray(first.features)[0, 0]) == 1.0
    assert float(np.asarray(second.features)[0, 0]) == 2.0  # recomputed, not the stale 1.0
