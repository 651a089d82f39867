"""Faults while ``fk.save`` writes a model: each ends in one line, and the file that was there
before (the last good model) stays whole and loadable."""

import errno
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import numpy as np
import pytest

import flowkit as fk
from flowkit.io import WriteError, _write


def _model(key):
    return fk.realnvp(key, dim=2, num_layers=2, width=8, depth=1)


def _leaves(model):
    return [np.asarray(a) for a in jax.tree.leaves(model) if isinstance(a, jax.Array)]


def _same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b), strict=True))


def _one_line(error: BaseException) -> str:
    text = str(error)
    assert "\n" not in text, text
    return text


def test_save_refuses_a_directory(tmp_path, key):
    with pytest.raises(WriteError, match=r"cannot write .*: it is a directory; give a file name"):
        fk.save(tmp_path, _model(key))


def test_save_refuses_a_missing_folder_and_names_it_not_a_tmp_file(tmp_path, key):
    target = tmp_path / "no" / "such" / "m.flowkit"
    with pytest.raises(WriteError, match=r"its folder .*such does not exist") as info:
        fk.save(target, _model(key))
    assert ".tmp" not in _one_line(info.value)
    assert not (tmp_path / "no").exists()


def test_save_refuses_a_file_as_folder(tmp_path, key):
    (tmp_path / "f").write_text("x")
    with pytest.raises(WriteError, match=r"m\.flowkit: a parent of it is not a directory"):
        fk.save(tmp_path / "f" / "m.flowkit", _model(key))


def test_save_refuses_a_fifo_and_leaves_it_a_fifo(tmp_path, key):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(WriteError, match=r"it exists and is not a regular file"):
        fk.save(fifo, _model(key))
    assert fifo.is_fifo()


def test_save_refuses_a_device(key):
    with pytest.raises(WriteError, match=r"cannot write /dev/null: it exists and is not a regular"):
        fk.save("/dev/null", _model(key))


def test_disk_full_is_one_line_and_keeps_the_old_file(tmp_path, key, monkeypatch):
    path = tmp_path / "m.flowkit"
    old = _model(key)
    fk.save(path, old)
    before = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_write.os, "fsync", full)
    with pytest.raises(WriteError, match=r"cannot write .*m\.flowkit: no space left on the device"):
        fk.save(path, _model(jax.random.key(1)))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert _same(fk.load(path), old)
    assert [p.name for p in tmp_path.iterdir()] == ["m.flowkit"]  # no temporary left


def test_write_error_keeps_errno_and_is_an_oserror(tmp_path, monkeypatch):
    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_write.os, "fsync", full)
    with pytest.raises(OSError) as info:
        _write.atomic_write_text(tmp_path / "a.json", "{}")
    assert isinstance(info.value, WriteError) and info.value.errno == errno.ENOSPC
    assert info.value.path == tmp_path / "a.json"
    _one_line(info.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_is_one_line(tmp_path, key):
    folder = tmp_path / "ro"
    folder.mkdir()
    fk.save(folder / "m.flowkit", _model(key))
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError, match=r"cannot write .*m\.flowkit: permission denied"):
            fk.save(folder / "m.flowkit", _model(jax.random.key(1)))
        assert _same(fk.load(folder / "m.flowkit"), _model(key))
    finally:
        folder.chmod(0o700)


_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    import jax
    import flowkit as fk
    from flowkit.io import _write

    path = sys.argv[1]
    real = _write.os.fsync

    def killed(fd):  # the new bytes are in the temporary file, not yet renamed over the old
        os.kill(os.getpid(), signal.SIGKILL)

    _write.os.fsync = killed
    fk.save(path, fk.realnvp(jax.random.key(1), dim=2, num_layers=2, width=8, depth=1))
    """
)


def test_kill_9_during_save_leaves_the_previous_file_loadable(tmp_path, key):
    path = tmp_path / "m.flowkit"
    old = _model(key)
    fk.save(path, old)
    before = path.read_bytes()
    env = {**os.environ, "PYTHONPATH": str(Path(fk.__file__).parents[1]), "JAX_PLATFORMS": "cpu"}
    done = subprocess.run(
        [sys.executable, "-c", _KILLED_WRITER, str(path)], env=env, capture_output=True, timeout=240
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    assert path.read_bytes() == before
    assert _same(fk.load(path), old)


def test_permission_denied_is_one_line_even_as_root(tmp_path, key, monkeypatch):
    def denied(**kwargs):
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(_write.tempfile, "mkstemp", denied)
    with pytest.raises(WriteError, match=r"cannot write .*m\.flowkit: permission denied"):
        fk.save(tmp_path / "m.flowkit", _model(key))
