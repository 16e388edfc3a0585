"""vocalmind: emotion, depression and anxiety measurement from speech.

Outputs about depression or anxiety are research measurements, not diagnoses.
"""

from vocalmind.errors import VocalmindError

__version__ = "0.1.0"
SAMPLE_RATE = 16_000  # Hz; every internal signal is 16 kHz mono float32

__all__ = ["VocalmindError", "SAMPLE_RATE", "__version__"]
