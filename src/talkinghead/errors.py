"""User-facing errors. The CLI prints ``str(err)`` on one line and exits with code 2."""
from __future__ import annotations

import os


class TalkingHeadError(Exception):
    """Base class for errors that are the user's input or environment, not a bug."""

    exit_code = 2

    def __init__(self, path: str | os.PathLike | None, reason: str):
        self.path = None if path is None else os.fspath(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class InputError(TalkingHeadError):
    """An input file is missing, unreadable, truncated, unsupported or unusable (e.g. no face)."""


class OutputError(TalkingHeadError):
    """An output path cannot be written."""


class ConfigError(TalkingHeadError):
    """A configuration is invalid (unknown key, bad value)."""


class ArgumentTypeError(ConfigError, TypeError):
    """A Python API argument has the wrong type (e.g. ``None`` where a file path is needed)."""


def check_paths(optional: tuple[str, ...] = (), **paths) -> None:
    """Raise :class:`ArgumentTypeError` naming the first argument that is not a file path.

    ``optional`` names the arguments that may be ``None``.
    """
    for name, value in paths.items():
        if value is None and name in optional:
            continue
        if not isinstance(value, (str, os.PathLike)) or (isinstance(value, str) and not value.strip()):
            got = "an empty string" if isinstance(value, str) else type(value).__name__
            raise ArgumentTypeError(None, f"{name}= must be a file path (str or os.PathLike), got {got}")
