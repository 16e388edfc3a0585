"""The input recipe: how a model's inputs are built, the same way in training and assessment.

One :class:`Recipe` holds every step between a recording and a model row, in this order:

1. **quality** -- each recording's :class:`~vocalmind.audio.quality.QualityRecord`; in
   training, recordings with no voiced speech or a truncated file are dropped (and listed
   as failures), and the training data's domain (native sample rates, bandwidth,
   durations) is recorded; at assessment the gates decide abstention;
2. **preprocessing** -- :class:`~vocalmind.features.extract.PreprocessSettings`;
3. **segmentation** -- fixed-length segments (:func:`vocalmind.audio.segment_manifest`);
4. **extraction** -- the feature set (feature models only; deep models read audio rows);
5. **key alignment** -- feature rows are matched to manifest rows by their
   ``(file, start, end)`` key, never by position;
6. **per-speaker normalisation** -- each speaker's rows standardised on that speaker's own
   statistics (``speaker_normalization``);
7. **aggregation** -- segment predictions pooled back to the recording
   (:meth:`Recipe.aggregate`).

The experiment runner builds the recipe from the config, fits its domain on the training
data and saves it as ``model/recipe.json`` (hashed by the model card, :mod:`vocalmind.runs`);
``vocalmind assess``, batch assessment on Ray and the service load it from there. Nothing
else builds model inputs, so a model trained on segments is scored on segments and a
speaker-normalised model is normalised over one speaker's recordings.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vocalmind.errors import ConfigError, ModelError, ModelIntegrityError
from vocalmind.files import write_json

__all__ = ["RECIPE_FILE", "Recipe", "Inputs", "KEY", "clip_to_scale"]

RECIPE_FILE = "recipe.json"
KEY = ["file", "start", "end"]
#: reasons that drop a training recording (the others are only recorded)
_TRAINING_REJECTS = ("truncated", "non-finite", "silent", "no voiced speech")
_FORMAT = 1


@dataclass
class Inputs:
    """What :meth:`Recipe.build` returns.

    Attributes
    ----------
    X : pd.DataFrame, one row per kept unit (features, or the rows themselves for models
        that read audio), aligned with ``rows``
    rows : pd.DataFrame, the manifest rows kept (segments when the recipe segments)
    failures : pd.DataFrame, ``file, reason`` of the units dropped
    quality : pd.DataFrame, one quality record per input recording (``quality_*`` columns
        beside ``file, start, end``)
    """

    X: pd.DataFrame
    rows: pd.DataFrame
    failures: pd.DataFrame
    quality: pd.DataFrame


def _measure(item: tuple[str, float | None, float | None], *, max_duration_s: float | None,
             ) -> dict[str, Any]:
    """Worker task: the quality record of one (file, start, end) as a flat dict."""
    from vocalmind.audio.quality import measure_file

    rec, _ = measure_file(item[0], start=item[1], end=item[2], max_duration_s=max_duration_s)
    return rec.as_dict("quality_")


def clip_to_scale(pred: np.ndarray, label: str) -> np.ndarray:
    """Clip score predictions to the range of the label's clinical scale (if it is one)."""
    from vocalmind.scales import SCALES

    scale = SCALES.get(label)
    if scale is None or pred.dtype.kind not in "fi":
        return pred
    return np.clip(pred, scale.low, scale.high)


def _none(x: Any) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def speaker_normalised(cfg: Any) -> bool:
    """Whether an :class:`~vocalmind.config.ExperimentConfig`'s model standardises its
    inputs per speaker: ``features.speaker_normalization`` for feature models; for deep
    families the ``speaker_norm`` data setting (log-mel or Whisper-frame inputs, the kinds
    it applies to) or ``ssl_attention``'s ``speaker_norm`` (its frozen encoder states).
    Such a model needs the speaker of every recording it assesses."""
    from vocalmind.models import get_family

    if not get_family(cfg.model.name).deep:
        return bool(cfg.features.speaker_normalization)
    from vocalmind.training.data import split_params

    # a data setting of the log-mel/Whisper-frame families, a model setting of ssl_attention
    model, data = split_params(cfg.model.name, cfg.model.params)
    return bool(data.get("speaker_norm") or model.get("speaker_norm"))


@dataclass
class Recipe:
    """Every step from a recording to a model input row (see the module docstring).

    Parameters
    ----------
    model : model family name
    deep : True when the model reads audio rows itself (no feature extraction)
    preprocess : preprocessing settings (``PreprocessSettings`` fields)
    segmentation : ``{"length_s": ..., "hop_s": ...}`` (length None = whole recordings)
    feature_set, feature_params : the feature set and its parameters (feature models)
    feature_names : the model's input columns, fitted in training
    speaker_normalization : standardise each speaker's rows on that speaker's statistics
    gates : quality thresholds (``QualityGates`` fields; empty = documented defaults)
    domain : the training data's domain, fitted in training (see :meth:`fit_domain`)
    encoder_weights : name and sha256 of the pretrained encoder weights the features come
        from, fitted in training; extraction with other weights is refused
    """

    model: str
    deep: bool = False
    preprocess: dict[str, Any] = field(default_factory=dict)
    segmentation: dict[str, Any] = field(default_factory=dict)
    feature_set: str | None = None
    feature_params: dict[str, Any] = field(default_factory=dict)
    feature_names: list[str] | None = None
    speaker_normalization: bool = False
    gates: dict[str, Any] = field(default_factory=dict)
    domain: dict[str, Any] | None = None
    #: quality records of the last :meth:`build` (not saved; the run folder's quality.csv)
    quality_: pd.DataFrame | None = field(default=None, repr=False, compare=False)
    #: pretrained weights the feature set needs ([{"name", "sha256"}]), fitted in training
    encoder_weights: list[dict[str, str]] | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_config(cls, cfg: Any) -> Recipe:
        """The recipe an :class:`~vocalmind.config.ExperimentConfig` describes (unfitted)."""
        from vocalmind.models import DEEP_FAMILIES

        deep = cfg.model.name in DEEP_FAMILIES
        fc = cfg.features
        return cls(
            model=cfg.model.name, deep=deep,
            preprocess=fc.preprocess.model_dump(mode="json"),
            segmentation=cfg.segmentation.model_dump(mode="json"),
            feature_set=None if deep else fc.set,
            feature_params={} if deep else dict(fc.params),
            speaker_normalization=speaker_normalised(cfg),
            gates=dict(getattr(cfg, "quality", None) or {}),
        )

    def quality_gates(self) -> Any:
        """The :class:`~vocalmind.audio.quality.QualityGates` of this recipe."""
        from vocalmind.audio.quality import QualityGates

        return QualityGates.from_dict(self.gates)

    # ------------------------------------------------------------------ steps

    def measure(self, rows: pd.DataFrame, *, executor: Any = None, n_jobs: int = 1,
                progress: bool = False) -> pd.DataFrame:
        """Quality records of the distinct (file, start, end) of ``rows``.

        Returns
        -------
        pd.DataFrame with ``file, start, end`` and the ``quality_*`` columns; a recording
        that cannot be read at all gets ``quality_error`` (its reason) instead.
        """
        from vocalmind.features.executor import get_executor

        keys = rows[KEY].drop_duplicates()
        items = [(str(f), _none(s), _none(e)) for f, s, e in keys.itertuples(index=False)]
        ex = executor if executor is not None else get_executor(
            "local", n_jobs=n_jobs, progress=progress)
        fn = functools.partial(_measure, max_duration_s=self.quality_gates().max_duration_s)
        out: dict[tuple[str, float | None, float | None], dict[str, Any]] = {}
        for item, res in ex.map(fn, items, description="quality"):
            if isinstance(res, BaseException):
                out[item] = {"quality_error": getattr(res, "reason", str(res))}
            else:
                out[item] = res
        recs = [{"file": f, "start": np.nan if s is None else s, "end": np.nan if e is None else e,
                 **out[(f, s, e)]} for f, s, e in items]
        return pd.DataFrame(recs)

    def segment(self, rows: pd.DataFrame) -> pd.DataFrame:
        """Cut rows into the recipe's segments (rows unchanged without segmentation)."""
        length = self.segmentation.get("length_s")
        if not length:
            return rows.reset_index(drop=True)
        from vocalmind.audio import segment_manifest

        return segment_manifest(rows, length_s=length, hop_s=self.segmentation.get("hop_s"),
                                progress=False).reset_index(drop=True)

    def extract(self, rows: pd.DataFrame, *, executor: Any = None, work_dir: Path | None = None,
                n_jobs: int = 1, cache_dir: str | None = None,
                max_failure_fraction: float = 0.0, progress: bool = True,
                extract_fn: Any = None,
                ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """Features of ``rows``, aligned to them by the (file, start, end) key.

        ``extract_fn`` replaces :func:`vocalmind.features.extract.extract_features` (same
        arguments plus ``work_dir``), e.g. the sharded extraction on a cluster; the caller
        passes it so that this module never imports the distributed room.

        Returns
        -------
        (X, rows, failures) : features of the rows that could be processed (in row order),
        those rows, and ``file, reason`` of the rows dropped
        """
        if self.deep:
            return rows, rows, pd.DataFrame(columns=["file", "reason"])
        from vocalmind.features.extract import extract_features, feature_set_from_spec

        assert self.feature_set is not None
        fs = feature_set_from_spec(self.feature_set, self.feature_params)
        self._check_weights(fs)
        # recordings were screened by the recipe's own gates (build), not here again
        if extract_fn is not None:
            # e.g. vocalmind.distributed.extract_sharded: resumable shards on a cluster
            result = extract_fn(
                rows, fs, preprocess=self.preprocess, executor=executor, work_dir=work_dir,
                cache_dir=cache_dir, max_failure_fraction=max_failure_fraction,
                screen_voiced=False)
        else:
            result = extract_features(
                rows, fs, preprocess=self.preprocess, executor=executor, n_jobs=n_jobs,
                cache_dir=cache_dir, max_failure_fraction=max_failure_fraction,
                progress=progress, screen_voiced=False)
        feats = result.features
        keys = pd.MultiIndex.from_frame(rows[KEY].astype({"start": float, "end": float}))
        ok = keys.isin(feats.index)  # rows whose extraction failed are dropped (and listed)
        X = feats.loc[keys[ok]].reset_index(drop=True)
        failures = result.failures[["file", "reason"]] if len(result.failures) else \
            pd.DataFrame(columns=["file", "reason"])
        return X, rows[ok].reset_index(drop=True), failures

    def _check_weights(self, fs: Any) -> None:
        """Record the encoder weights in training; refuse other weights afterwards."""
        weights = getattr(fs, "weights", None)
        got = weights() if callable(weights) else None
        if not got:
            return
        if self.encoder_weights is None:
            self.encoder_weights = got
        elif got != self.encoder_weights:
            want = ", ".join(f"{w['name']} (sha256 {w['sha256'][:12]}...)"
                             for w in self.encoder_weights)
            have = ", ".join(f"{w['name']} (sha256 {w['sha256'][:12]}...)" for w in got)
            raise ModelError(f"the model was trained on features of the encoder weights {want}; "
                             f"the weights found here are {have}: install the same weights "
                             "(the vocalmind[encoders] extra) or the same local files")

    def normalize(self, X: pd.DataFrame, speakers: np.ndarray) -> pd.DataFrame:
        """Standardise each speaker's rows on their own statistics (if the recipe does)."""
        if not self.speaker_normalization or self.deep:
            return X
        from vocalmind.features.normalize import normalize_per_speaker

        return normalize_per_speaker(X, speakers)

    def aggregate(self, pred: pd.DataFrame, *, task: str) -> pd.DataFrame:
        """Pool segment predictions back to one row per recording (no-op unsegmented)."""
        if not self.segmentation.get("length_s"):
            return pred
        from vocalmind.evaluation.aggregation import aggregate_predictions

        return aggregate_predictions(pred, level="recording", task=task)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ the whole recipe

    def build(self, manifest: pd.DataFrame, *, executor: Any = None,
              work_dir: Path | None = None, n_jobs: int = 1, cache_dir: str | None = None,
              max_failure_fraction: float = 0.0, quality: pd.DataFrame | None = None,
              screen: bool = True, progress: bool = True, extract_fn: Any = None) -> Inputs:
        """Model inputs for every manifest row that can be processed.

        Parameters
        ----------
        manifest : rows with ``file, start, end, subject`` (``subject`` is the speaker the
            normalisation groups by)
        quality : quality records already measured (``measure``); None = measure here
        screen : drop recordings whose quality makes features meaningless (truncated,
            non-finite, silent, no voiced speech), listing them as failures

        Returns
        -------
        Inputs
        """
        manifest = manifest.reset_index(drop=True)
        if quality is None:
            quality = self.measure(manifest, executor=executor, n_jobs=n_jobs)
        fails: list[pd.DataFrame] = []
        if screen:
            keep, why = self.screen(manifest, quality)
            if (~keep).any():
                fails.append(pd.DataFrame({"file": manifest.loc[~keep, "file"].astype(str),
                                           "reason": why[~keep]}))
            manifest = manifest[keep].reset_index(drop=True)
        rows = self.segment(manifest)
        X, rows, failures = self.extract(
            rows, executor=executor, work_dir=work_dir, n_jobs=n_jobs, cache_dir=cache_dir,
            max_failure_fraction=max_failure_fraction, progress=progress, extract_fn=extract_fn)
        fails.append(failures)
        if not self.deep:
            X = self.normalize(X, rows["subject"].astype(str).to_numpy())
        failures = pd.concat([f for f in fails if len(f)], ignore_index=True) if any(
            len(f) for f in fails) else pd.DataFrame(columns=["file", "reason"])
        self.quality_ = quality
        return Inputs(X, rows, failures, quality)

    def screen(self, manifest: pd.DataFrame, quality: pd.DataFrame,
               ) -> tuple[np.ndarray, np.ndarray]:
        """Which training rows to keep: (keep mask, reason per row ('' when kept))."""
        from vocalmind.audio.quality import QualityRecord, check

        gates = self.quality_gates()
        by_key = {(str(r["file"]), _none(r["start"]), _none(r["end"])): r
                  for r in quality.to_dict("records")}
        keep = np.ones(len(manifest), dtype=bool)
        why = np.array([""] * len(manifest), dtype=object)
        for i, (f, s, e) in enumerate(manifest[KEY].itertuples(index=False)):
            r = by_key.get((str(f), _none(s), _none(e)))
            if r is None or (isinstance(r.get("quality_error"), str)):
                continue  # unreadable: extraction reports the reason
            rec = QualityRecord.from_dict(r, "quality_")
            if rec.speech_s is not None and isinstance(rec.speech_s, float) and \
                    math.isnan(rec.speech_s):
                continue  # too long to measure here; extraction decides
            bad = [x for x in check(rec, gates) if x.startswith(_TRAINING_REJECTS)]
            if bad:
                keep[i] = False
                why[i] = "; ".join(bad)
        return keep, why

    # ------------------------------------------------------------------ domain

    def fit_domain(self, quality: pd.DataFrame) -> Recipe:
        """Record the training data's domain from its quality records.

        Stores the native sample rates seen (Hz, with counts), the 5th percentile of the
        effective bandwidth (Hz) and the 1st/99th percentiles of the duration (s).
        """
        q = quality[quality.get("quality_error", pd.Series(index=quality.index)).isna()] \
            if "quality_error" in quality else quality
        if not len(q):
            self.domain = None
            return self
        rates = q["quality_native_sr"].dropna().astype(int).value_counts().sort_index()
        bw = pd.to_numeric(q["quality_bandwidth_hz"], errors="coerce").dropna()
        dur = pd.to_numeric(q["quality_duration_s"], errors="coerce").dropna()
        self.domain = {
            "native_sr": {str(k): int(v) for k, v in rates.items()},
            "bandwidth_hz_p05": float(bw.quantile(0.05)) if len(bw) else None,
            "duration_s_p01": float(dur.quantile(0.01)) if len(dur) else None,
            "duration_s_p99": float(dur.quantile(0.99)) if len(dur) else None,
            "n_recordings": int(len(q)),
        }
        return self

    def domain_warnings(self, record: Any) -> list[str]:
        """How a recording's quality record differs from the training data's domain."""
        d = self.domain
        if not d:
            return []
        out: list[str] = []
        rates = [int(k) for k in d.get("native_sr", {})]
        if rates and record.native_sr is not None and record.native_sr < min(rates):
            out.append(f"sample rate {record.native_sr} Hz is below the training data's "
                       f"({min(rates)} Hz and up): answers may shift")
        bw = d.get("bandwidth_hz_p05")
        if bw and record.bandwidth_hz == record.bandwidth_hz and record.bandwidth_hz < 0.8 * bw:
            out.append(f"bandwidth {record.bandwidth_hz:.0f} Hz is narrower than the training "
                       f"data's (95 % above {bw:.0f} Hz)")
        lo, hi = d.get("duration_s_p01"), d.get("duration_s_p99")
        if lo and record.duration_s < 0.5 * lo:
            out.append(f"duration {record.duration_s:.1f} s is much shorter than the training "
                       f"recordings (99 % at least {lo:.1f} s)")
        if hi and record.duration_s > 2 * hi:
            out.append(f"duration {record.duration_s:.1f} s is much longer than the training "
                       f"recordings (99 % at most {hi:.1f} s)")
        return out

    # ------------------------------------------------------------------ persistence

    def save(self, model_dir: str | Path) -> Path:
        """Write ``recipe.json`` into a model folder (atomically)."""
        data = {f.name: getattr(self, f.name) for f in fields(self) if not f.name.endswith("_")}
        return write_json(Path(model_dir) / RECIPE_FILE, {"format": _FORMAT, **data})

    @classmethod
    def load(cls, model_dir: str | Path) -> Recipe:
        """Read ``recipe.json`` from a model folder.

        Raises
        ------
        ModelIntegrityError
            The file is missing or not a recipe.
        """
        path = Path(model_dir) / RECIPE_FILE
        if not path.is_file():
            raise ModelIntegrityError(path, "missing: the model has no input recipe (made by "
                                            "an older vocalmind?); re-run the experiment")
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            fmt = d.pop("format")
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ModelIntegrityError(path, f"not a vocalmind input recipe ({e})") from None
        if fmt != _FORMAT:
            raise ModelIntegrityError(path, f"not a vocalmind input recipe (format {fmt!r}, "
                                            f"expected {_FORMAT!r})")
        try:
            return cls(**d)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ModelIntegrityError(path, f"not a vocalmind input recipe ({e})") from None

    def check_features(self, X: pd.DataFrame, where: str) -> None:
        """Raise ConfigError when ``X``'s columns are not the fitted feature names."""
        if self.feature_names is not None and list(X.columns) != self.feature_names:
            raise ConfigError(f"{where}: the model expects {len(self.feature_names)} features of "
                              f"set {self.feature_set!r}; the recipe gave {X.shape[1]}")
