"""A reader for CTranslate2's ``model.bin`` (the format faster-whisper models ship in).

Layout (binary versions 2-6, all little-endian)::

    uint32 binary_version
    str    spec name            (uint16 length, bytes incl. a trailing NUL)
    uint32 spec_revision
    uint32 n_variables
    n_variables x { str name; uint8 rank; uint32 dims[rank];
                    uint8 dtype_id; uint32 n_bytes; bytes data }     (version >= 4)
    uint32 n_aliases; n_aliases x { str alias; str target }          (version >= 3)

Only the variables asked for are read; the rest are skipped with ``seek``, so reading the
encoder of a 145 MB Whisper base file touches ~40 MB.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np

from vocalmind.errors import EncoderWeightsError

__all__ = ["read_ct2_variables", "write_ct2_variables", "DTYPES"]

#: CTranslate2's DataType ids (include/ctranslate2/types.h)
DTYPES: dict[int, np.dtype] = {
    0: np.dtype("<f4"), 1: np.dtype("i1"), 2: np.dtype("<i2"), 3: np.dtype("<i4"),
    4: np.dtype("<f2"),
}
_BFLOAT16 = 5


def _read(f: BinaryIO, fmt: str, where: str) -> tuple:
    size = struct.calcsize(fmt)
    raw = f.read(size)
    if len(raw) != size:
        raise EncoderWeightsError(f"{where}: model.bin ends early (truncated file)")
    return struct.unpack(fmt, raw)


def _read_str(f: BinaryIO, where: str) -> str:
    (n,) = _read(f, "<H", where)
    raw = f.read(n)
    if len(raw) != n:
        raise EncoderWeightsError(f"{where}: model.bin ends early (truncated file)")
    return raw.rstrip(b"\0").decode("utf-8", errors="replace")


def read_ct2_variables(
    f: BinaryIO, *, keep: Callable[[str], bool] = lambda name: True, where: str = "model.bin"
) -> tuple[str, dict[str, np.ndarray]]:
    """Read a CTranslate2 model file.

    Parameters
    ----------
    f : binary stream positioned at the start of ``model.bin`` (seekable)
    keep : which variables to load (others are skipped)
    where : name used in error messages (the file's path)

    Returns
    -------
    (spec, variables) : the model spec name (e.g. ``"WhisperSpec"``) and the kept
        variables as numpy arrays (float16 weights stay float16; bfloat16 becomes float32)

    Raises
    ------
    EncoderWeightsError
        Not a CTranslate2 file, an unsupported version or data type, or a truncated file.
    """
    (version,) = _read(f, "<I", where)
    if not 2 <= version <= 6:
        raise EncoderWeightsError(f"{where}: not a CTranslate2 model.bin (binary version "
                                  f"{version}; versions 2-6 are read)")
    spec = _read_str(f, where)
    _read(f, "<I", where)  # spec revision: the variable names are what matters here
    (n_vars,) = _read(f, "<I", where)
    out: dict[str, np.ndarray] = {}
    for _ in range(n_vars):
        name = _read_str(f, where)
        (rank,) = _read(f, "<B", where)
        dims = _read(f, f"<{rank}I", where) if rank else ()
        if version >= 4:
            dtype_id, n_bytes = _read(f, "<BI", where)
        else:
            item, n_items = _read(f, "<BI", where)
            dtype_id, n_bytes = {4: 0, 2: 2, 1: 1}.get(item, -1), item * n_items
        if not keep(name):
            f.seek(n_bytes, 1)
            continue
        raw = f.read(n_bytes)
        if len(raw) != n_bytes:
            raise EncoderWeightsError(f"{where}: model.bin ends early in {name!r} (truncated)")
        if dtype_id == _BFLOAT16:
            arr = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype_id in DTYPES:
            arr = np.frombuffer(raw, DTYPES[dtype_id])
        else:
            raise EncoderWeightsError(f"{where}: variable {name!r} has data type id "
                                      f"{dtype_id}, which is not supported")
        out[name] = arr.reshape(dims) if rank else arr.reshape(())
    if version >= 3:
        try:
            (n_alias,) = _read(f, "<I", where)
            for _ in range(n_alias):
                alias, target = _read_str(f, where), _read_str(f, where)
                if keep(alias) and target in out:
                    out[alias] = out[target]
        except EncoderWeightsError:
            pass  # aliases only name decoder weights twice; the encoder is complete
    return spec, out


def write_ct2_variables(path: str | Path, spec: str, variables: dict[str, np.ndarray]) -> None:
    """Write variables in CTranslate2's binary version 6 (used by tests to make tiny models).

    float32 arrays are written as float16 when ``variables`` holds float16 arrays; each
    array keeps its own dtype. Scalars are written with rank 0.
    """
    ids = {v: k for k, v in DTYPES.items()}
    with open(path, "wb") as f:
        f.write(struct.pack("<I", 6))
        enc = spec.encode() + b"\0"
        f.write(struct.pack("<H", len(enc)) + enc + struct.pack("<II", 1, len(variables)))
        for name, arr in variables.items():
            arr = np.asarray(arr, order="C")
            enc = name.encode() + b"\0"
            f.write(struct.pack("<H", len(enc)) + enc + struct.pack("<B", arr.ndim))
            f.write(struct.pack(f"<{arr.ndim}I", *arr.shape))
            raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
            f.write(struct.pack("<BI", ids[arr.dtype.newbyteorder("<")], len(raw)) + raw)
        f.write(struct.pack("<I", 0))
