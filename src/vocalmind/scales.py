"""Published severity bands of the clinical scales vocalmind predicts.

Every band function maps a total score to a band name; the ``*_binary`` functions give the
usual screening cut-offs. Scores outside the scale's range raise
:class:`~vocalmind.errors.ManifestError` (a ``ValueError``). NaN gives NaN
(``None``), so a missing questionnaire never becomes a label.

These are research labels derived from questionnaires, not diagnoses.

References: PHQ-8/PHQ-9 Kroenke et al. 2001/2009; GAD-7 Spitzer et al. 2006;
HAMD-17 Zimmerman et al. 2013; Zung SDS index (raw x 1.25), EATD-Corpus binary at >= 53.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from vocalmind.errors import ConfigError, ManifestError


@dataclass(frozen=True)
class Scale:
    """A clinical scale: its range, bands (lower bounds, names) and screening cut-off."""

    name: str
    low: float
    high: float
    bounds: tuple[float, ...]  # lower bound of each band, ascending, first == low
    bands: tuple[str, ...]
    positive_at: float  # binary label is 1 when score >= positive_at

    def band(self, score: float | None) -> str | None:
        """Band name of ``score``; ``None`` for a missing score."""
        s = self._check(score)
        if s is None:
            return None
        name = self.bands[0]
        for b, n in zip(self.bounds, self.bands, strict=True):
            if s >= b:
                name = n
        return name

    def binary(self, score: float | None) -> int | None:
        """1 if ``score`` is at or above the screening cut-off, 0 below, ``None`` if missing."""
        s = self._check(score)
        if s is None:
            return None
        return int(s >= self.positive_at)

    def _check(self, score: float | None) -> float | None:
        if score is None or (isinstance(score, float) and math.isnan(score)):
            return None
        s = float(score)
        if not (self.low <= s <= self.high):
            raise ManifestError(
                f"{self.name} score {score!r} outside its range {self.low:g}-{self.high:g}; "
                "check the label column (another scale, or a missing-value code such as -1?)"
            )
        return s


PHQ8 = Scale("phq8", 0, 24, (0, 5, 10, 15, 20),
             ("none", "mild", "moderate", "moderately_severe", "severe"), 10)
PHQ9 = Scale("phq9", 0, 27, (0, 5, 10, 15, 20),
             ("none", "mild", "moderate", "moderately_severe", "severe"), 10)
GAD7 = Scale("gad7", 0, 21, (0, 5, 10, 15), ("minimal", "mild", "moderate", "severe"), 10)
HAMD17 = Scale("hamd", 0, 52, (0, 8, 17, 24), ("normal", "mild", "moderate", "severe"), 8)
# Zung SDS index = raw score (20-80) x 1.25, so 25-100. EATD-Corpus labels depressed at >= 53.
SDS = Scale("sds", 25, 100, (25, 50, 60, 70), ("normal", "mild", "moderate", "severe"), 53)

SCALES: dict[str, Scale] = {s.name: s for s in (PHQ8, PHQ9, GAD7, HAMD17, SDS)}

#: Labels whose results are about depression or anxiety: a scale's total, its bands and its
#: screening binary. Every output about them carries :data:`NOT_A_DIAGNOSIS`.
CLINICAL_LABELS: frozenset[str] = frozenset(
    name for s in SCALES for name in (s, f"{s}_band", f"{s}_binary")
)
#: the notice every clinical output carries (reports, run folders, assess, the service)
NOT_A_DIAGNOSIS = "Research measurement, not a diagnosis."


def is_clinical_label(label: str) -> bool:
    """True if ``label`` is a depression/anxiety scale or a band/screen derived from one.

    Examples
    --------
    >>> is_clinical_label("phq9_binary"), is_clinical_label("emotion")
    (True, False)
    """
    return label in CLINICAL_LABELS


def get_scale(name: str) -> Scale:
    """Look a scale up by name (``phq8``, ``phq9``, ``gad7``, ``hamd``, ``sds``)."""
    try:
        return SCALES[name]
    except KeyError:
        raise ConfigError(f"unknown scale {name!r}; known: {', '.join(SCALES)}") from None
