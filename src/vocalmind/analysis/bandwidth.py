"""Which features need frequencies a recording does not have.

Every feature set works on 16 kHz audio, so telephone recordings (8 kHz) are upsampled
first. Upsampling adds no content above the original Nyquist frequency (4 kHz): a feature
computed over bands above it (eGeMAPS ``hammarbergIndex``: 0-2 kHz against 2-5 kHz;
``alphaRatio``: 50 Hz-1 kHz against 1-5 kHz; MFCCs and auditory spectra up to 8 kHz) then
measures an empty band, not the voice. :func:`band_limited_features` names them so analyses
can flag or drop them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["band_limited_features", "required_bandwidth_hz"]

#: Highest frequency (Hz) each named feature family reads, for the 16 kHz feature sets.
_KNOWN: tuple[tuple[re.Pattern[str], float], ...] = (
    (re.compile(r"hammarberg", re.IGNORECASE), 5000.0),
    (re.compile(r"alpharatio", re.IGNORECASE), 5000.0),
    (re.compile(r"mfcc", re.IGNORECASE), 8000.0),
    (re.compile(r"audspec|rfilt", re.IGNORECASE), 8000.0),
    (re.compile(r"spectral(flux|centroid|entropy|variance|skewness|kurtosis|slope|"
                r"rolloff|harmonicity|sharpness)", re.IGNORECASE), 8000.0),
    (re.compile(r"logmel|mel_\d+|melspec", re.IGNORECASE), 8000.0),
)
#: Explicit ranges in a name: ``slopeV500-1500``, ``pcm_fftMag_fband1000-4000``.
_RANGE = re.compile(r"(\d{2,5})-(\d{2,5})")


def required_bandwidth_hz(name: str) -> float | None:
    """The highest frequency a feature reads, from its name; None when the name does not say.

    Examples
    --------
    >>> required_bandwidth_hz("hammarbergIndexV_sma3nz_amean")
    5000.0
    >>> required_bandwidth_hz("slopeV500-1500_sma3nz_amean")
    1500.0
    >>> required_bandwidth_hz("F0semitoneFrom27.5Hz_sma3nz_amean") is None
    True
    """
    for rx, hz in _KNOWN:
        if rx.search(name):
            return hz
    m = _RANGE.search(name)
    if m and "semitone" not in name.lower():
        return float(m.group(2))
    return None


def band_limited_features(names: Iterable[str], sample_rate: float) -> list[str]:
    """Features that read frequencies above ``sample_rate / 2`` (the recording's Nyquist).

    Parameters
    ----------
    names : feature names (eGeMAPS, ComParE, log-mel ...)
    sample_rate : the recordings' native sampling rate in Hz, before any resampling

    Returns
    -------
    list of str
        In the order given; empty when nothing needs more than the recordings hold.

    Examples
    --------
    >>> band_limited_features(["alphaRatioV_sma3nz_amean", "loudness_sma3_amean"], 8000)
    ['alphaRatioV_sma3nz_amean']
    >>> band_limited_features(["alphaRatioV_sma3nz_amean"], 16000)
    []
    """
    nyquist = float(sample_rate) / 2
    return [n for n in names if (hz := required_bandwidth_hz(n)) is not None and hz > nyquist]
