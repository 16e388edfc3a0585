"""Analysis room: which voice features relate to depression/anxiety scores, and how they change.

Follows the methods of Wang et al. (2023): partial-correlation feature selection
(:mod:`~vocalmind.analysis.selection`), feature-score correlations
(:mod:`~vocalmind.analysis.correlate`), random-forest importance
(:mod:`~vocalmind.analysis.importance`), pre/post and many-session statistics
(:mod:`~vocalmind.analysis.longitudinal`) and their figures (:mod:`~vocalmind.analysis.plots`).
Everything here is a research measurement about groups of recordings, never a diagnosis.
"""

from vocalmind.analysis.correlate import (
    bh_fdr,
    correlate_features,
    covariate_design,
    partial_correlation,
)
from vocalmind.analysis.importance import rf_importance
from vocalmind.analysis.longitudinal import group_difference, paired_change, session_trend
from vocalmind.analysis.selection import PartialCorrelationSelector

__all__ = [
    "PartialCorrelationSelector",
    "bh_fdr",
    "correlate_features",
    "covariate_design",
    "group_difference",
    "paired_change",
    "partial_correlation",
    "rf_importance",
    "session_trend",
]
