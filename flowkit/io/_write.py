"""The one way flowkit writes a file: atomically, with an ``OSError`` turned into one line.

Every file a run leaves behind (models, metrics, history, figures, checkpoint metadata) goes
through :func:`atomic_write`, so a full disk, a read-only folder or a path that is not a
directory ends in a :class:`WriteError` naming the file and the cause, and the file that was
there before (the last good model, say) is still there, whole.
"""

import errno
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# errno -> the cause in words a user acts on (the rest print the system's own message)
_CAUSES = {
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EACCES: "permission denied",
    errno.EPERM: "operation not permitted",
    errno.EROFS: "read-only file system",
    errno.ENOTDIR: "a parent of it is not a directory",
    errno.EISDIR: "it is a directory",
    errno.ENOENT: "its folder does not exist",
    errno.ENAMETOOLONG: "the name is too long",
}


class WriteError(OSError):
    """A file could not be written; the message names the file and the cause in one line.

    Subclasses ``OSError`` with the original ``errno``, so ``except OSError`` still works.

    Args:
        path: the file that could not be written; kept as a ``Path`` in ``self.path``.
        cause: why, in words; kept in ``self.cause``.
        err: the original ``errno`` (``self.errno``); None if unknown.
    """

    def __init__(self, path: str | os.PathLike, cause: str, err: int | None = None):
        self.path = Path(path)
        self.cause = cause
        super().__init__(err, f"cannot write {self.path}: {cause}")

    def __str__(self) -> str:
        return f"cannot write {self.path}: {self.cause}"


def describe(error: OSError) -> str:
    """The cause of ``error`` in a few words ("no space left on the device", ...).

    Args:
        error: the error raised by a write.

    Returns:
        The cause, for a one-line message.
    """
    if isinstance(error, WriteError):
        return error.cause
    cause = _CAUSES.get(error.errno) if error.errno is not None else None
    return cause or (error.strerror or str(error))


def check_writable_target(path: str | os.PathLike) -> Path:
    """``path`` as a ``Path`` when a regular file may be written there, else a WriteError.

    Refuses an existing directory, device, FIFO or socket (``os.replace`` would silently
    swap a FIFO or a device node for a file) and a missing parent folder (instead of naming
    the temporary file the write would have used).

    Args:
        path: the file about to be written.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WriteError: if ``path`` is a directory or not a regular file, or its folder is missing.
    """
    path = Path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise WriteError(path, describe(e), e.errno) from e
    if mode is not None and stat.S_ISDIR(mode):
        raise WriteError(path, "it is a directory; give a file name", errno.EISDIR)
    if mode is not None and not stat.S_ISREG(mode):
        raise WriteError(
            path, "it exists and is not a regular file (a device, FIFO or socket)", errno.EEXIST
        )
    parent = path.parent
    if not parent.is_dir():
        what = "does not exist" if not parent.exists() else "is not a directory"
        raise WriteError(path, f"its folder {parent} {what}", errno.ENOENT)
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Write ``path`` through ``write(file)``: all of it or nothing.

    The bytes go to a temporary file beside ``path``, are flushed to disk, then renamed over
    it, so a crash or a full disk leaves the old file as it was and no temporary behind.

    Args:
        path: the file to write (a regular file or not yet there; its folder must exist).
        write: called once with the open binary file.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WriteError: the file cannot be written; the message names it and the cause.
    """
    path = check_writable_target(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise WriteError(path, describe(e), e.errno) from e
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        raise WriteError(path, describe(e), e.errno) from e
    finally:
        Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """:func:`atomic_write` of ``data``.

    Args:
        path: the file to write.
        data: its whole content.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WriteError: if the file cannot be written; the message names it and the cause.
    """
    return atomic_write(path, lambda f: f.write(data))


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """:func:`atomic_write` of ``text`` in UTF-8.

    Args:
        path: the file to write.
        text: its whole content.

    Returns:
        ``path`` as a ``Path``.

    Raises:
        WriteError: if the file cannot be written; the message names it and the cause.
    """
    return atomic_write_bytes(path, text.encode())
