"""Per-speaker feature standardisation.

Acoustic features vary more between speakers (vocal tract, habitual pitch and loudness,
microphone) than between one speaker's emotional states. Standardising every feature to
zero mean and unit variance *within each speaker* removes that offset and scale; it is the
standard unsupervised step of speaker-independent speech emotion recognition (Schuller et
al., "Cross-corpus acoustic emotion recognition", IEEE TAC 2010; Busso et al., "Iterative
feature normalization scheme for automatic emotion detection from speech", IEEE TAC 2013).

It is transductive for test speakers: an unseen speaker is standardised on his or her own
*unlabelled* recordings, all of which must be available at transform time (batch
evaluation, or a per-person enrolment in a deployment). Labels are never used, and nothing
of one speaker leaks into another's statistics, so it is safe inside a leave-one-speaker-out
split. With few recordings per speaker the statistics are noisy; with one recording every
feature becomes 0.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from vocalmind.errors import ConfigError

__all__ = ["SpeakerStandardizer", "normalize_per_speaker"]

ArrayOrFrame = np.ndarray | pd.DataFrame


def _as_matrix(X: ArrayOrFrame) -> np.ndarray:
    M = X.to_numpy(dtype=np.float64) if isinstance(X, pd.DataFrame) else np.asarray(X, dtype=np.float64)
    if M.ndim != 2:
        raise ConfigError(f"X must be 2-D (n_samples, n_features), got shape {M.shape}")
    return M


def _as_groups(groups: Any, n: int) -> np.ndarray:
    if groups is None:
        raise ConfigError(
            "groups (one speaker id per row) are required: per-speaker normalisation is "
            "undefined without them"
        )
    g = np.asarray(groups.to_numpy() if isinstance(groups, pd.Series) else groups, dtype=object)
    if g.ndim != 1 or g.shape[0] != n:
        raise ConfigError(f"groups must be 1-D with one id per row ({n}), got shape {g.shape}")
    if pd.isna(g).any():
        raise ConfigError("groups contain missing speaker ids; every row needs one")
    return g


def _stats(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # NaN features (undefined for a recording) are ignored; a constant (or all-NaN) feature
    # gets scale 1 so it maps to 0 (or stays NaN) instead of dividing by zero
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns
        mean = np.nanmean(M, axis=0)
        std = np.nanstd(M, axis=0)
    mean = np.where(np.isnan(mean), 0.0, mean)
    std = np.where(~np.isfinite(std) | (std <= 1e-12 * np.maximum(1.0, np.abs(mean))), 1.0, std)
    return mean, std


class SpeakerStandardizer(TransformerMixin, BaseEstimator):
    """Standardise each speaker's rows with that speaker's own mean and standard deviation.

    ``fit`` stores the statistics of every speaker in the training data; ``transform``
    uses them for those speakers and, for a speaker not seen in ``fit``, computes them on
    that speaker's rows of the data being transformed (its unlabelled test recordings).

    Attributes
    ----------
    stats_ : dict[Hashable, tuple[np.ndarray, np.ndarray]]
        Speaker id -> (mean, std) [shape=(n_features,)], std of constant features set to 1.
    n_features_in_ : int

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[1.0], [3.0], [10.0], [30.0]])
    >>> SpeakerStandardizer().fit_transform(X, groups=["a", "a", "b", "b"]).ravel()
    array([-1.,  1., -1.,  1.])
    """

    def fit(self, X: ArrayOrFrame, y: Any = None, groups: Sequence[Any] | None = None) -> SpeakerStandardizer:
        """Store per-speaker means and standard deviations; ``y`` is ignored.

        Parameters
        ----------
        X : array or DataFrame [shape=(n_samples, n_features)]
        y : ignored (labels are never used)
        groups : array-like [shape=(n_samples,)], speaker id of each row (required)
        """
        M = _as_matrix(X)
        g = _as_groups(groups, M.shape[0])
        self.stats_ = {spk: _stats(M[g == spk]) for spk in pd.unique(g)}
        self.n_features_in_ = M.shape[1]
        if isinstance(X, pd.DataFrame):
            self.feature_names_in_ = np.asarray(X.columns, dtype=object)
        return self

    def transform(self, X: ArrayOrFrame, groups: Sequence[Any] | None = None) -> ArrayOrFrame:
        """Standardise every row with its speaker's statistics.

        Parameters
        ----------
        X : array or DataFrame [shape=(n_samples, n_features)]
        groups : array-like [shape=(n_samples,)], speaker id of each row (required)

        Returns
        -------
        Same type as ``X`` (a DataFrame keeps its index and columns), float64.
        """
        if not hasattr(self, "stats_"):
            raise ConfigError("SpeakerStandardizer is not fitted; call fit(X, groups=...) first")
        M = _as_matrix(X)
        if M.shape[1] != self.n_features_in_:
            raise ConfigError(f"X has {M.shape[1]} features, the standardiser was fitted on {self.n_features_in_}")
        g = _as_groups(groups, M.shape[0])
        out = np.empty_like(M)
        for spk in pd.unique(g):
            rows = g == spk
            # unseen speaker: standardise on its own (unlabelled) rows - transductive by design
            mean, std = self.stats_.get(spk) or _stats(M[rows])
            out[rows] = (M[rows] - mean) / std
        if isinstance(X, pd.DataFrame):
            return pd.DataFrame(out, index=X.index, columns=X.columns)
        return out

    def fit_transform(self, X: ArrayOrFrame, y: Any = None, groups: Sequence[Any] | None = None, **_: Any) -> ArrayOrFrame:  # type: ignore[override]
        """``fit(X, groups=groups).transform(X, groups=groups)``; ``y`` is ignored."""
        return self.fit(X, groups=groups).transform(X, groups=groups)


def normalize_per_speaker(X: ArrayOrFrame, groups: Sequence[Any]) -> ArrayOrFrame:
    """Standardise each speaker's rows on that speaker's own statistics (no fitting step).

    Parameters
    ----------
    X : array or DataFrame [shape=(n_samples, n_features)]
    groups : array-like [shape=(n_samples,)], speaker id of each row

    Returns
    -------
    Same type as ``X``: per speaker, every feature has mean 0 and standard deviation 1
    (population, ddof=0); constant features become 0.

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"f0": [100.0, 140.0, 200.0, 260.0]})
    >>> normalize_per_speaker(X, ["m", "m", "f", "f"])["f0"].tolist()
    [-1.0, 1.0, -1.0, 1.0]
    """
    return SpeakerStandardizer().fit_transform(X, groups=groups)
