"""File-system helpers shared by the io modules: atomic outputs and input-file checks.

Outputs are written to a hidden temporary file beside the final path and moved into place with
``os.replace`` only when writing succeeded, so a crash or an exception never leaves a half-written
file at the path the user asked for.
"""
from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from talkinghead.errors import InputError, OutputError

__all__ = ["atomic_folder", "atomic_output", "check_input_file", "check_output_path", "file_sha256", "json_safe", "write_json"]

# errno -> user-facing reason for OSErrors raised while creating or writing an output.
_OUTPUT_ERRNO_REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EFBIG: "file too large (file size limit reached)",
    errno.EROFS: "read-only file system",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOENT: "directory does not exist",
    errno.ENOTDIR: "directory does not exist",
    errno.EISDIR: "is a directory",
    errno.ENAMETOOLONG: "file name too long",
}


def check_input_file(path: str | os.PathLike) -> Path:
    """Check that ``path`` is an existing, non-empty, readable regular file.

    Raises:
        InputError: "file not found", "is a directory", "not a regular file",
            "permission denied" or "empty file (0 bytes)".
    """
    p = Path(os.fspath(path))
    try:
        st = p.stat()
    except FileNotFoundError:
        raise InputError(p, "file not found") from None
    except PermissionError:
        raise InputError(p, "permission denied") from None
    except OSError as e:  # e.g. ENOTDIR (a path component is a file), ENAMETOOLONG
        reason = "file not found" if e.errno == errno.ENOTDIR else (e.strerror or str(e))
        raise InputError(p, reason) from None
    if p.is_dir():
        raise InputError(p, "is a directory")
    if not p.is_file():
        raise InputError(p, "not a regular file")
    if st.st_size == 0:
        raise InputError(p, "empty file (0 bytes)")
    if not os.access(p, os.R_OK):
        raise InputError(p, "permission denied")
    return p


def check_output_path(path: str | os.PathLike) -> Path:
    """Check that ``path`` could be created: its directory exists and it is not a directory.

    Write permission is checked by :func:`atomic_output` by actually creating the temporary file
    (``os.access`` is meaningless for root).

    Raises:
        OutputError: "is a directory", "directory does not exist", "parent is not a directory"
            or "file name too long".
    """
    if not os.fspath(path).strip():
        raise OutputError(None, "empty output path")
    p = Path(os.fspath(path))
    try:
        if p.is_dir():
            raise OutputError(p, "is a directory")
        parent = p.parent
        if not parent.exists():
            raise OutputError(p, "directory does not exist")
        if not parent.is_dir():
            raise OutputError(p, "parent is not a directory")
    except OSError as e:  # e.g. ENAMETOOLONG, ELOOP from stat()
        raise _output_error(p, e) from None
    return p


def probe_writable(path: str | os.PathLike, extensions: set[str] | None = None,
                   inputs: tuple[str | os.PathLike | None, ...] = ()) -> Path:
    """Check early (before long work) that ``path`` can be written: directory, extension, not one
    of the ``inputs`` (the render would replace the file it reads), and a real write test (a hidden
    temp file is created and removed)."""
    p = check_output_path(path)
    if extensions is not None and p.suffix.lower() not in extensions:
        raise OutputError(p, f"unsupported output extension '{p.suffix}' (use {' or '.join(sorted(extensions))})")
    for i in inputs:
        if i is not None and _same_file(p, Path(os.fspath(i))):
            raise OutputError(p, "is also an input file (the render would replace it); choose another output path")
    _remove_quietly(_create_temp(p, p.suffix))
    return p


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _output_error(path: Path, err: OSError) -> OutputError:
    reason = _OUTPUT_ERRNO_REASONS.get(err.errno or -1) or (err.strerror or str(err))
    return OutputError(path, reason)


def _create_temp(path: Path, suffix: str) -> Path:
    """Create (exclusively) a hidden empty temp file next to ``path`` and return its path.

    Mode 0o666 is filtered by the process umask, so the final file gets ordinary permissions
    (unlike ``tempfile.mkstemp``, which creates 0o600 files). The name carries this process's id,
    so the temp files of a run that was killed outright (SIGKILL, power loss: no cleanup ran) are
    removed by the next run writing the same output (:func:`_remove_orphans`).
    """
    _remove_orphans(path)
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{suffix}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno == errno.ENOENT and path.parent.is_dir():  # e.g. /proc: exists, takes no new files
                raise OutputError(path, "cannot create files in this directory") from None
            raise _output_error(path, e) from None
        os.close(fd)
        return tmp
    raise OutputError(path, "could not create a temporary file")  # pragma: no cover


def _remove_orphans(path: Path) -> None:
    """Remove the temp files of ``path`` left by processes of this machine that no longer exist (a
    process that is alive, or whose state cannot be told, keeps its file)."""
    ours = re.compile(rf"\.{re.escape(path.name)}\.(\d+)-[0-9a-f]{{8}}\.tmp(\.[^.]*)?")  # as _create_temp names them
    try:
        names = os.listdir(path.parent)
    except OSError:
        return
    for name in names:
        m = ours.fullmatch(name)
        if m is None or int(m.group(1)) == os.getpid() or _alive(int(m.group(1))):
            continue
        try:
            (path.parent / name).unlink()
        except OSError:  # gone already, or not ours to remove
            pass


def _alive(pid: int) -> bool:
    if os.name != "posix":  # signal 0 only probes on POSIX (on Windows os.kill terminates)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, OverflowError):  # another user's process (EPERM), or unknowable
        return True
    return True


def _remove_quietly(p: Path) -> None:
    try:
        p.unlink()
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - best effort cleanup
        pass


@contextmanager
def atomic_output(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; move it to ``path`` if the block succeeds.

    The temporary file is hidden and keeps the real extension (``.out.mp4`` ->
    ``.out.mp4.1a2b3c4d.tmp.mp4``) so encoders that pick the format from the extension work.
    It already exists (empty) when yielded; writers may overwrite it.

    Args:
        path: final output path.
        suffix: extension of the temporary file (default: the extension of ``path``).

    Raises:
        OutputError: before anything is written if the path is a directory, its directory does
            not exist or is not writable; while writing if the disk is full ("no space left on
            device") or a similar OS error occurs. On any exception the temporary file is removed
            and nothing appears at ``path``; other exceptions are re-raised unchanged.
    """
    p = check_output_path(path)
    tmp = _create_temp(p, p.suffix if suffix is None else suffix)
    try:
        yield tmp
    except BaseException as e:
        _remove_quietly(tmp)
        # ``errno`` is also set on PyAV's FFmpegError, which does not subclass OSError.
        err = _write_error(p, getattr(e, "errno", None))
        if err is not None:
            raise err from e
        raise
    try:
        os.replace(tmp, p)
    except OSError as e:
        _remove_quietly(tmp)
        raise (_write_error(p, e.errno) or _output_error(p, e)) from e


def _write_error(path: Path, err_no: int | None) -> OutputError | None:
    """The OutputError for a write that failed with ``err_no`` because of the output's place (disk
    full, read-only, its folder removed meanwhile); None for any other failure."""
    if err_no in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG):
        return OutputError(path, _OUTPUT_ERRNO_REASONS[err_no])
    if err_no in (errno.ENOENT, errno.ENOTDIR) and not path.parent.is_dir():
        return OutputError(path, "the output directory was removed while writing")
    return None


@contextmanager
def atomic_folder(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a new, empty hidden folder beside ``path``; if the block succeeds it takes the place of
    ``path`` (a folder already there is moved aside, then removed), otherwise it is removed. A crash
    never leaves a half-written folder at ``path``. The parent folder must exist."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        tmp.mkdir()
        yield tmp
        if p.exists():
            old = p.with_name(f".{p.name}.old-{os.getpid()}")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(p, old)
            os.replace(tmp, p)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, p)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def file_sha256(path: str | os.PathLike) -> str | None:
    """Hex SHA-256 of a file's bytes (streamed), or None when it cannot be read."""
    import hashlib

    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def json_safe(x):
    """``x`` with numpy scalars as Python numbers and NaN / infinite numbers (a metric with nothing to
    measure) as None, so it serialises as valid JSON (Python's NaN is not)."""
    import math

    import numpy as np

    if isinstance(x, dict):
        return {k: json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [json_safe(v) for v in x]
    if isinstance(x, np.generic):
        x = x.item()
    return None if isinstance(x, float) and not math.isfinite(x) else x


def write_json(path: str | os.PathLike, obj) -> None:
    """Write ``obj`` as indented, valid JSON (see :func:`json_safe`) atomically."""
    import json

    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(json_safe(obj), indent=2, default=float, allow_nan=False))
