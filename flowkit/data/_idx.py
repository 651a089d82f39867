"""IDX files (the MNIST format), plain or gzip-compressed, parsed with numpy.

Layout: a 4-byte magic number ``0x00 0x00 <type> <ndim>``, then ``ndim`` big-endian uint32
sizes, then the values, big-endian, in C order. Types: 0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64. gzip is recognised by its first two bytes, not by
the file name.
"""

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np

from ._errors import DataError

_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_GZIP_MAGIC = b"\x1f\x8b"


def _read_bytes(path: Path) -> bytes:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataError(path, "no such file.") from None
    except OSError as error:
        raise DataError(path, f"cannot be read ({error.strerror}).") from None
    if not raw.startswith(_GZIP_MAGIC):
        return raw
    try:
        return gzip.decompress(raw)
    except EOFError:
        raise DataError(path, "truncated gzip file (the compressed stream ends early).") from None
    except (gzip.BadGzipFile, zlib.error) as error:
        raise DataError(path, f"damaged gzip file ({error}).") from None


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """The array stored in an IDX or IDX.gz file, shape as its header says, native byte order.

    Args:
        path: the file (gzip-compressed when it ends in ``.gz``).

    Returns:
        The array, of the shape and dtype its header says.

    Raises:
        DataError: naming the file, for a wrong magic number, an unknown type code, a
            truncated or damaged file, or bytes left over after the data.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataError(
            path,
            f"not an IDX file: the magic number must start with two zero bytes; got "
            f"0x{raw[:4].hex() or 'empty'}.",
        )
    type_code, ndim = raw[2], raw[3]
    if type_code not in _TYPES:
        known = ", ".join(f"0x{code:02X}" for code in _TYPES)
        raise DataError(
            path, f"not an IDX file: unknown data type 0x{type_code:02X} (known: {known})."
        )
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise DataError(
            path,
            f"truncated IDX header: {ndim} dimensions need {header} bytes, file has {len(raw)}.",
        )
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
    dtype = np.dtype(_TYPES[type_code])
    expected = math.prod(shape) * dtype.itemsize
    found = len(raw) - header
    described = f"{'x'.join(map(str, shape))} {dtype.name} values ({expected} bytes)"
    if found < expected:
        raise DataError(
            path,
            f"truncated IDX file: the header promises {described}, but "
            f"only {found} bytes of data follow.",
        )
    if found > expected:
        raise DataError(
            path,
            f"malformed IDX file: the header promises {described}, but "
            f"{found - expected} extra bytes follow the data.",
        )
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
