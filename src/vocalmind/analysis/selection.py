"""Feature selection by partial correlation with the score, fitted inside a training fold.

Wang et al. (2023) kept the acoustic statistics whose Pearson correlation with HAMD,
controlling for sex and age, had p < 0.01 and set the other features to 0. The study did
this once on all 47 people before leave-one-out, so the held-out person's score took part
in choosing the features. :class:`PartialCorrelationSelector` is a scikit-learn transformer
so the same selection can sit inside a ``Pipeline`` and be refitted on each training fold.

How the covariates reach ``fit`` (scikit-learn pipelines pass only ``X`` and ``y`` by
default); two mechanisms, pick one:

1. **Covariate columns in X** (no configuration): give ``X`` as a DataFrame that also holds
   the columns named by ``covariates`` (default ``gender`` and ``age``). ``fit`` uses them as
   covariates and they are never features: ``transform`` removes them from its output.
   Because they travel in the rows of ``X``, any splitter slices them with the fold.
2. **Metadata routing**: ``fit(X, y, covariates=df)``. Inside a ``Pipeline`` or
   ``cross_validate`` enable routing and request it::

       sklearn.set_config(enable_metadata_routing=True)
       sel = PartialCorrelationSelector().set_fit_request(covariates=True)
       cross_validate(make_pipeline(sel, Ridge()), X, y, cv=GroupKFold(5),
                      params={"covariates": cov, "groups": groups})

   scikit-learn then slices ``cov`` with the training rows of each fold.

Either way the fit reads the training rows only: the covariate coding (one-hot gender,
median-imputed age) is also computed from them (:func:`~vocalmind.analysis.correlate.covariate_design`).

When no feature reaches ``p < alpha`` the ``fallback_k`` features with the smallest p are
kept instead (``fallback_used_`` is set and a ``UserWarning`` raised), so a pipeline never
receives an empty matrix.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from vocalmind.analysis.correlate import bh_fdr, covariate_design, partial_correlation
from vocalmind.errors import ConfigError, FeatureError, InputError


class PartialCorrelationSelector(TransformerMixin, BaseEstimator):
    """Keep features whose partial correlation with ``y`` (given covariates) has p < alpha.

    Parameters
    ----------
    alpha : float in (0, 1)
        Significance threshold; the study used 0.01.
    fdr : bool
        Compare Benjamini-Hochberg adjusted p-values with ``alpha`` instead of raw ones.
    covariates : sequence of str
        Names of the covariate columns (in ``X`` or in the ``covariates`` table given to
        ``fit``). ``()`` gives an unadjusted correlation.
    mode : ``"drop"`` or ``"zero"``
        ``"drop"`` outputs the kept features only; ``"zero"`` keeps every feature and sets
        the others to 0, as the study did (after standardisation 0 is the mean).
    method : ``"pearson"`` or ``"spearman"``
    fallback_k : int >= 1
        Features kept (smallest p) when none passes.

    Attributes
    ----------
    feature_names_ : np.ndarray [shape=(n_features,)]
        Names of the feature columns (input columns minus covariate columns).
    r_, pvalues_, p_fdr_ : np.ndarray [shape=(n_features,)]
        Partial correlation, raw p and BH-adjusted p per feature, from the training rows.
    support_ : np.ndarray of bool [shape=(n_features,)]
    fallback_used_ : bool
    n_features_in_ : int
        Number of input columns, covariate columns included.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame(rng.normal(size=(60, 5)), columns=list("abcde"))
    >>> X["gender"] = rng.choice(["f", "m"], 60); X["age"] = rng.uniform(18, 60, 60)
    >>> y = 3 * X["a"] + rng.normal(size=60)
    >>> sel = PartialCorrelationSelector().fit(X, y)
    >>> sel.get_feature_names_out().tolist(), sel.transform(X).shape
    (['a'], (60, 1))
    """

    def __init__(
        self,
        alpha: float = 0.01,
        fdr: bool = False,
        covariates: Sequence[str] = ("gender", "age"),
        mode: Literal["drop", "zero"] = "drop",
        method: Literal["pearson", "spearman"] = "pearson",
        fallback_k: int = 5,
    ) -> None:
        self.alpha = alpha
        self.fdr = fdr
        self.covariates = covariates
        self.mode = mode
        self.method = method
        self.fallback_k = fallback_k

    def _check_params(self) -> None:
        if not 0 < float(self.alpha) < 1:
            raise ConfigError(f"alpha={self.alpha!r} must lie in (0, 1), e.g. 0.01")
        if self.mode not in ("drop", "zero"):
            raise ConfigError(f"mode={self.mode!r} must be 'drop' or 'zero'")
        if self.method not in ("pearson", "spearman"):
            raise ConfigError(f"method={self.method!r} must be 'pearson' or 'spearman'")
        if int(self.fallback_k) < 1:
            raise ConfigError(f"fallback_k={self.fallback_k!r} must be >= 1")
        if isinstance(self.covariates, str):
            raise ConfigError(
                f"covariates={self.covariates!r} must be a sequence of column names, "
                f"e.g. ({self.covariates!r},)"
            )

    def fit(
        self, X: Any, y: Any, covariates: pd.DataFrame | None = None
    ) -> PartialCorrelationSelector:
        """Compute each feature's partial correlation with ``y`` on these rows only.

        Parameters
        ----------
        X : DataFrame or array [shape=(n_samples, n_columns)]
            Features, plus the covariate columns when they are carried in ``X``.
        y : array-like [shape=(n_samples,)]
            Score; rows with NaN are ignored.
        covariates : DataFrame [shape=(n_samples, k)] or None
            Covariates for these rows (routed by scikit-learn, see the module docstring).

        Raises
        ------
        ConfigError
            Covariates named but found nowhere, given twice, or of the wrong length.
        """
        self._check_params()
        names = [str(c) for c in self.covariates]
        is_df = isinstance(X, pd.DataFrame)
        columns = (
            np.asarray(X.columns, dtype=object)
            if is_df
            else np.array([f"x{i}" for i in range(np.shape(X)[1])], dtype=object)
        )
        in_x = [c for c in names if is_df and c in X.columns]
        if covariates is not None and in_x:
            raise ConfigError(
                f"covariates {in_x} are both columns of X and passed to fit(covariates=...); "
                "use one mechanism"
            )
        cov: pd.DataFrame | None = None
        if covariates is not None:
            if not isinstance(covariates, pd.DataFrame) or len(covariates) != len(X):
                raise ConfigError(
                    f"fit(covariates=...) must be a DataFrame with {len(X)} rows (one per row of X)"
                )
            missing = [c for c in names if c not in covariates.columns]
            if missing:
                raise ConfigError(
                    f"covariate columns {missing} not in the covariates table "
                    f"(it has {list(covariates.columns)})"
                )
            cov = covariates[names].reset_index(drop=True)
        elif names:
            missing = [c for c in names if c not in in_x]
            if missing:
                raise ConfigError(
                    f"covariates {missing} not found: carry them as columns of a DataFrame X, "
                    "pass fit(covariates=df) (set_fit_request(covariates=True) inside a "
                    "Pipeline), or set covariates=() for an unadjusted correlation"
                )
            cov = X[names].reset_index(drop=True)
        is_feature = ~np.isin(columns, in_x)
        self.n_features_in_ = len(columns)
        if is_df:
            self.feature_names_in_ = columns
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_  # refitted on an array: names from an earlier fit are stale
        self._feature_idx = np.flatnonzero(is_feature)
        self._covariates_in_x = bool(in_x)
        self.feature_names_ = columns[is_feature]
        feats = X.iloc[:, self._feature_idx] if is_df else np.asarray(X)
        try:
            x = np.asarray(feats, dtype=float)
        except (TypeError, ValueError) as e:
            raise FeatureError(f"features must be numeric ({e}); drop text columns first") from None
        yv = np.asarray(pd.to_numeric(pd.Series(np.asarray(y).ravel()), errors="coerce"), float)
        if len(yv) != len(x):
            raise InputError(
                f"{type(self).__name__}.fit: X has {len(x)} rows but y has {len(yv)}; give one "
                "label per row"
            )
        design = covariate_design(cov) if cov is not None else None
        self.r_, self.pvalues_, _ = partial_correlation(
            x, yv, covariates=design, method=self.method
        )
        self.p_fdr_ = bh_fdr(self.pvalues_)
        test_p = self.p_fdr_ if self.fdr else self.pvalues_
        support = np.nan_to_num(test_p, nan=1.0) < self.alpha
        self.fallback_used_ = not support.any()
        if self.fallback_used_:
            k = min(int(self.fallback_k), x.shape[1])
            order = np.argsort(np.nan_to_num(test_p, nan=np.inf), kind="stable")[:k]
            support[order] = True
            warnings.warn(
                f"no feature reached p < {self.alpha} on {len(x)} rows; keeping the {k} "
                "with the smallest p (fallback_k)",
                UserWarning,
                stacklevel=2,
            )
        self.support_ = support
        return self

    def get_support(self, indices: bool = False) -> np.ndarray:
        """Boolean mask (or indices) of kept features, over :attr:`feature_names_`."""
        check_is_fitted(self, "support_")
        return np.flatnonzero(self.support_) if indices else self.support_.copy()

    def transform(self, X: Any) -> np.ndarray:
        """Drop (or zero) the features that did not pass; remove covariate columns.

        Parameters
        ----------
        X : DataFrame or array [shape=(n_samples, n_features_in_)]

        Returns
        -------
        np.ndarray [shape=(n_samples, n_kept)] (``mode="drop"``) or
        [shape=(n_samples, n_features)] (``mode="zero"``), float64
        """
        check_is_fitted(self, "support_")
        if isinstance(X, pd.DataFrame) and hasattr(self, "feature_names_in_"):
            missing = [c for c in self.feature_names_ if c not in X.columns]
            if missing:
                raise FeatureError(f"X lacks feature columns seen in fit, e.g. {missing[:5]}")
            x = X[list(self.feature_names_)].to_numpy(dtype=float)
        else:
            arr = np.asarray(X, dtype=float)
            if arr.ndim != 2 or arr.shape[1] != self.n_features_in_:
                raise FeatureError(
                    f"X has shape {arr.shape}; expected {self.n_features_in_} columns as in fit"
                )
            x = arr[:, self._feature_idx]
        if self.mode == "drop":
            return x[:, self.support_]
        out = x.copy()
        out[:, ~self.support_] = 0.0
        return out

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """Names of the output columns."""
        check_is_fitted(self, "support_")
        names = np.asarray(self.feature_names_, dtype=object)
        return names[self.support_] if self.mode == "drop" else names
