"""User-facing errors.

A `UserError` is a mistake the user can fix (a bad file, option or profile key).
The CLI prints its message as one line and exits with code 2; anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with the user's input; the message says what and how to fix it."""

    exit_code = 2


class InputFileError(UserError):
    """Malformed content in an input file, located by file and (when known) line."""

    def __init__(self, path: object, message: str, line: int | None = None) -> None:
        where = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.line = line


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every `finally` and checkpoint-on-interrupt path runs;
    the CLI exits 143 for it (130 for Ctrl-C)."""


def stop_exception(signal_name: str | None) -> KeyboardInterrupt:
    """What to raise after a loop stopped cleanly on `signal_name` ("SIGINT" / "SIGTERM")."""
    return Terminated() if signal_name == "SIGTERM" else KeyboardInterrupt()


class MissingDependencyError(UserError):
    """An optional library or hardware is absent; the message says how to get it."""
