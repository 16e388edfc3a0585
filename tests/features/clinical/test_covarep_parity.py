"""The clinical descriptors against the real COVAREP's output on 7 reference recordings.

Targets are issue 11's. Where a descriptor does not reach its target yet, the test asserts
the figure it reached when last measured (``REACHED``, rounded down by ~0.02 for
floating-point differences between machines), so that agreement can only improve; where
it does, the figure reached (``FLOORS``, rounded down the same way) when that is stricter
than the target. The 16 kHz EMO-DB recordings are also held to every target (``EMODB``):
on the two 8 kHz EMU recordings the glottal descriptors, MCEP_24 and HMPDM_22-24 depend
on the reference's sox dither draw (docs/benchmarks.md, "Clinical set vs COVAREP", lists
the gaps and this noise ceiling). Figures: :mod:`vocalmind.features.clinical.parity`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from vocalmind.features.clinical import parity

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
REF_DIR, DATA_DIR = SHARED / "reference" / "covarep", SHARED / "data"

#: issue 11's targets: (figure, minimum)
TARGETS: dict[str, tuple[str, float]] = {
    "F0": ("r", 0.95), "peakSlope": ("r", 0.95), "VUV": ("kappa", 0.9),
    "creak": ("kappa", 0.5),
    **{d: ("r", 0.9) for d in ("NAQ", "QOQ", "H1H2", "MDQ", "PSP", "Rd")},
    **{f"MCEP_{i}": ("r", 0.95 if i <= 12 else 0.9) for i in range(25)},
    **{f"HMPDM_{i}": ("r", 0.9) for i in range(25)},
    **{f"HMPDD_{i}": ("r", 0.9) for i in range(13)},
}
UTTERANCE_TARGET = 0.9

#: the figure reached where the target is not met (measured, then rounded down): the
#: glottal descriptors, MCEP_24 (0.8996) and HMPDM_22-24, which on the two 8 kHz EMU
#: recordings are at the sox-dither ceiling (docs/benchmarks.md)
REACHED: dict[str, float] = {
    "NAQ": 0.72, "QOQ": 0.70, "H1H2": 0.77, "PSP": 0.52, "MDQ": 0.74, "MCEP_24": 0.88,
    "HMPDM_22": 0.66, "HMPDM_23": 0.16, "HMPDM_24": 0.27,
}

#: where the target is met: the figure reached (measured, then rounded down), if stricter
FLOORS: dict[str, float] = {
    "F0": 0.98, "VUV": 0.96, "peakSlope": 0.97, "creak": 0.88, "Rd": 0.93,
    **{f"MCEP_{i}": 0.97 for i in range(8)}, "MCEP_8": 0.96, "MCEP_9": 0.96,
    "MCEP_10": 0.96, "MCEP_13": 0.96, "MCEP_14": 0.95, "MCEP_15": 0.95, "MCEP_16": 0.94,
    "MCEP_17": 0.93, "MCEP_18": 0.93, **{f"MCEP_{i}": 0.92 for i in range(19, 23)},
    **{f"HMPDM_{i}": 0.97 for i in (8, 9, 10, 11, 12, 13)}, "HMPDM_14": 0.96,
    "HMPDM_15": 0.96, "HMPDM_16": 0.95, "HMPDM_17": 0.95, "HMPDM_18": 0.92,
    "HMPDM_19": 0.95, "HMPDM_20": 0.96,
    **{f"HMPDD_{i}": 0.97 for i in range(13)}, "HMPDD_4": 0.96, "HMPDD_5": 0.96,
}
#: the 5 EMO-DB recordings (16 kHz, no dither): every target of the issue, and the figures
#: reached (rounded down) where stricter -- vocalmind follows COVAREP's SRH exactly there
EMODB: dict[str, tuple[str, float]] = {
    "F0": ("r", 0.99), "VUV": ("kappa", 0.98), "NAQ": ("r", 0.96), "QOQ": ("r", 0.95),
    "H1H2": ("r", 0.93), "MDQ": ("r", 0.93), "PSP": ("r", 0.9), "Rd": ("r", 0.98),
    "HRF": ("r", 0.97),
    **{f"MCEP_{i}": ("r", 0.98) for i in range(25)},
    **{f"HMPDM_{i}": ("r", 0.97) for i in range(9, 25)},
    **{f"HMPDD_{i}": ("r", 0.98) for i in range(13)},
}

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def pairs() -> list[parity.Pair]:
    if not REF_DIR.is_dir() or not DATA_DIR.is_dir():
        pytest.skip(f"COVAREP reference or data not found under {SHARED}")
    return [parity.load_pair(n, reference_dir=REF_DIR, data_dir=DATA_DIR)
            for n in parity.RECORDINGS]


@pytest.fixture(scope="module")
def table(pairs: list[parity.Pair]) -> pd.DataFrame:
    return parity.parity_table(pairs)


def test_pairs_cover_the_reference(pairs):
    # every reference frame is paired (vocalmind's grid covers COVAREP's)
    for p in pairs:
        ref = pd.read_csv(REF_DIR / f"{p.name}.csv")
        assert len(p.ref) == len(ref), p.name
        assert list(p.ours.columns) == parity.covarep_names()


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_descriptor_agreement(pairs, table, name):
    fig, target = TARGETS[name]
    need = REACHED[name] if name in REACHED else max(target, FLOORS.get(name, target))
    if name in parity.random_filled(pairs):
        pytest.skip(f"{name}: COVAREP leaves it empty (0 or random), nothing to compare")
    val = table.loc[name, fig]
    assert np.isfinite(val) and val >= need, (name, fig, val, need)


def test_reached_floors_are_below_targets():
    # a floor above its target would hide a met target; keep the table honest
    for name, floor in REACHED.items():
        assert floor < TARGETS[name][1], name
    for name, floor in FLOORS.items():
        assert name not in REACHED and floor >= TARGETS[name][1], name


def test_every_descriptor_on_emodb(pairs):
    # 16 kHz studio speech, no dither: the targets hold descriptor by descriptor
    table = parity.parity_table([p for p in pairs if p.name.startswith("emodb")])
    low = {name: (fig, table.loc[name, fig], need) for name, (fig, need) in EMODB.items()
           if not table.loc[name, fig] >= need}
    assert not low, low
    for name, (_fig, need) in EMODB.items():
        assert name == "HRF" or need >= TARGETS[name][1], name


def test_utterance_level_spearman(pairs):
    med = parity.utterance_spearman(pairs)
    assert med >= UTTERANCE_TARGET, med  # met (1.000 when last measured)


def test_hrf_is_output_and_agrees(table):
    # HRF has no target in the issue; COVAREP computes it, vocalmind outputs it on request
    assert table.loc["HRF", "r"] >= 0.78  # 0.799 when last measured (EMO-DB 0.998)
    assert table.loc["Rd_conf", "r"] >= 0.97  # 0.995 when last measured
