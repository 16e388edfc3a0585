"""Clinical feature set: 120 COVAREP-style descriptors x 10 statistics = 1,200 features.

Reproduces the acoustic pipeline of Wang et al. 2023 (seed 002): every 10 ms, 120
low-level descriptors (:mod:`~vocalmind.features.clinical.descriptors`), then ten
statistics of each over its valid frames (:mod:`~vocalmind.features.clinical.statistics`).

Naming: ``<descriptor>_<stat>``, descriptor in :func:`descriptor_names` (``F0``, ``VUV``,
``NAQ``, ``QOQ``, ``H1H2``, ``PSP``, ``MDQ``, ``peakSlope``, ``Rd``, ``Rd_conf``, ``creak``,
``MCEP_0..24``, ``HMPDM_0..24``, ``HMPDD_0..12``, ``MFCC_deltas_1..20``,
``MFCC_delta_deltas_1..20``, ``F1..F5``, ``Peak2RMS``) and stat in ``max, min, median,
mean, var, kurt, skew, slope, intercept, R2`` (``var`` is the variance, not the standard
deviation; the paper's ``creak_std`` is ``sqrt(creak_var)``), e.g. ``MCEP_0_skew``,
``HMPDD_8_R2``, ``F0_mean``. Statistics are descriptor-major: the 10 statistics of ``F0``
first.

Methods (details and the remaining differences from COVAREP in each module's docstring),
each following COVAREP's own code (``COVAREP_feature_extraction``): polarity by RESKEW;
F0 and voicing by SRH on COVAREP's frames (:mod:`.f0`); GCIs by SEDREAMS; glottal flow by
GCI-synchronous IAIF; NAQ, QOQ, PSP, H1-H2 per GCI as ``get_vq_params``, MDQ, peakSlope
(:mod:`.glottal`); COVAREP's peak-picked harmonics of its sinusoidal-analysis frames
(:mod:`.sins`), feeding Rd by mean squared phase (:mod:`.rd`, with COVAREP's conjugation
quirk) and HMPDM / HMPDD in COVAREP's encoding (:mod:`.hmpd`); MCEP from the
sinusoidal-analysis frames, true envelopes and mel warping (:mod:`.mcep`); creak by a rule
(:mod:`.creak`; NOT COVAREP's trained network, whose weights are GPL-3, and it does not
agree with it); formants by LPC and Peak-to-RMS
(:mod:`.formants`); MFCC deltas (:mod:`.mfcc`). Agreement with the real COVAREP, descriptor
by descriptor, is measured by :mod:`.parity` (docs/benchmarks.md, "Clinical set vs
COVAREP").

HRF (COVAREP's harmonic richness factor, computed by ``get_vq_params`` but not exported by
COVAREP) is available as an extra column (``descriptor_matrix(..., hrf=True)``) but is not
one of the 120 descriptors: the set keeps document 002's 1,200 statistics, so that feature
tables, models and configs built on it stay valid.

Long recordings are processed in 27 s windows with 1.5 s margins (``descriptors.WINDOW_S``,
``MARGIN_S``) with the global quantities computed over the whole recording; the result
equals one-window processing to 1e-6 (real speech included: every FFT block and DFT length
is the recording's or the frame's own, not the window's), with memory bounded by the window
(docs/benchmarks.md).

Bad input: a recording shorter than ``min_voiced_frames`` x 10 ms (default 0.3 s), or with
fewer voiced frames than that (whisper, noise, silence), raises
:class:`vocalmind.errors.FeatureError` naming the reason. A descriptor with fewer than
``MIN_VALID_FRAMES`` (10) valid frames gets NaN for all ten statistics, so that glottal
statistics of a recording with only a few voiced frames are missing rather than numbers
that look real.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vocalmind.errors import ConfigError
from vocalmind.features.base import FeatureSet, register
from vocalmind.features.clinical.descriptors import (
    MIN_VOICED_FRAMES,
    clinical_descriptors,
    descriptor_matrix,
    descriptor_names,
)
from vocalmind.features.clinical.statistics import (
    STATS,
    clinical_statistics,
    statistic_names,
    statistics_matrix,
)

__all__ = ["ClinicalSet", "STATS", "clinical_descriptors", "clinical_statistics",
           "descriptor_matrix", "descriptor_names", "statistic_names", "statistics_matrix"]


@register("clinical")
class ClinicalSet(FeatureSet):
    """The 1,200 clinical statistics of one 16 kHz signal.

    Parameters
    ----------
    min_voiced_frames : fewest voiced 10 ms frames (default 30); fewer raises FeatureError
    """

    def __init__(self, *, min_voiced_frames: int = MIN_VOICED_FRAMES, **params: Any) -> None:
        if params:
            raise ConfigError(f"unknown clinical parameters {sorted(params)}; "
                             "the only one is min_voiced_frames")
        if not isinstance(min_voiced_frames, int) or min_voiced_frames < 1:
            raise ConfigError(f"clinical set: min_voiced_frames must be a positive int, got "
                             f"{min_voiced_frames!r}")
        super().__init__(min_voiced_frames=min_voiced_frames)

    def names(self) -> list[str]:
        return statistic_names(descriptor_names())

    def process_signal(self, y: np.ndarray, sr: int) -> np.ndarray:
        times, mat = descriptor_matrix(y, sr=sr,
                                       min_voiced_frames=self.params["min_voiced_frames"])
        return statistics_matrix(mat, times[:, None]).T.ravel()
