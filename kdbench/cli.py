"""The typer app: parse options, call the library, render. Nothing heavy is imported here.

Each command lives in `kdbench/commands/NAME.py`, and is registered on `app` below; heavy
libraries (torch, transformers, onnxruntime, tensorrt) are imported inside the command
bodies, so `kdbench --help` answers at once.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType
from typing import Any

import click
import typer

from kdbench import __version__
from kdbench.commands.env import env
from kdbench.commands.evaluate import evaluate_command
from kdbench.commands.export import export
from kdbench.commands.options import command
from kdbench.commands.profile import profile
from kdbench.commands.report import report
from kdbench.commands.run import run
from kdbench.commands.teacher import teacher_app
from kdbench.commands.train import train_command
from kdbench.errors import Terminated, UserError
from kdbench.io import NO_ROOM, no_room_error

app = typer.Typer(
    name="kdbench",
    help="Distil, evaluate and profile efficient neural rankers (Margin-MSE cross-architecture KD).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"kdbench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: bool = typer.Option(
        False, "--debug", help="Show full tracebacks for errors.", envvar="KDBENCH_DEBUG"
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    if debug:
        os.environ["KDBENCH_DEBUG"] = "1"


# Every command, in the order `kdbench --help` lists them; `command` expands a config
# parameter (`settings(...)`) into its options. `kdbench teacher` is a group of its own.
for _name, _callback in (
    ("env", env),
    ("evaluate", evaluate_command),
    ("train", train_command),
    ("profile", profile),
    ("export", export),
    ("report", report),
    ("run", run),
):
    command(app, _name)(_callback)
app.add_typer(teacher_app, name="teacher")


# The signal that stopped this process: typer turns any KeyboardInterrupt into a bare exit
# code 130, so this is how main() still tells SIGTERM (143) from Ctrl-C (130).
_stopped_by: list[int] = []


def _on_signal(signum: int, frame: FrameType | None) -> None:
    _stopped_by.append(signum)
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _redeliver_swallowed_stop(unraisable: Any) -> None:
    """sys.unraisablehook: a stop raised inside a weakref callback or __del__ is dropped by
    Python (printed as "Exception ignored"); send the signal again so the stop is not lost."""
    if _stopped_by and isinstance(unraisable.exc_value, KeyboardInterrupt):
        # From a thread: the handler then runs in the main thread's own code, not in here.
        threading.Timer(0.01, os.kill, (os.getpid(), _stopped_by[-1])).start()
        return
    sys.__unraisablehook__(unraisable)


def _stopped(signum: int) -> int:
    if signum == signal.SIGTERM:
        typer.echo(
            "kdbench: terminated (SIGTERM); finished work is kept, rerun to continue", err=True
        )
        return 143
    typer.echo("kdbench: interrupted; finished work is kept, rerun to continue", err=True)
    return 130


def _usage_error(exc: Exception) -> int:
    """A typo'd option, a missing value, an unknown command: one line that says where to look."""
    ctx = getattr(exc, "ctx", None)
    code = int(getattr(exc, "exit_code", 2))
    if type(exc).__name__ == "NoArgsIsHelpError":  # bare `kdbench` / `kdbench teacher`: show help
        exc.show()  # type: ignore[attr-defined]
        return code
    format_message = getattr(exc, "format_message", None)
    message = " ".join(str(format_message() if format_message else exc).split()).rstrip(".")
    command = ctx.command_path if ctx is not None else "kdbench"
    typer.echo(f"kdbench: error: {message}; see `{command} --help`", err=True)
    return code


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors are one line on stderr and exit code 2."""
    _stopped_by.clear()
    previous: dict[int, Any] = {}
    previous_hook = sys.unraisablehook
    if argv is None:
        for stop_signal in (signal.SIGTERM, signal.SIGINT):
            previous[stop_signal] = signal.signal(stop_signal, _on_signal)
        sys.unraisablehook = _redeliver_swallowed_stop
    try:
        return _run(argv)
    finally:
        # A signal after the work is done must not raise into interpreter shutdown.
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        sys.unraisablehook = previous_hook


def _run(argv: list[str] | None) -> int:
    debug = os.environ.get("KDBENCH_DEBUG") == "1" or "--debug" in (
        argv if argv is not None else sys.argv
    )
    try:
        _check_encodable(argv if argv is not None else sys.argv[1:])
        # With standalone_mode=False click returns the code of a typer.Exit instead of raising it.
        code = app(args=argv, prog_name="kdbench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    # typer >= 0.20 vendors click: its usage errors are TyperExceptions, not click's.
    except (click.ClickException, typer.TyperException) as exc:
        if debug:
            raise
        return _usage_error(exc)
    except Terminated:
        return _stopped(signal.SIGTERM)
    except (click.exceptions.Abort, typer.Abort, KeyboardInterrupt):
        return _stopped(signal.SIGINT)
    except UserError as exc:
        if debug:
            raise
        typer.echo(f"kdbench: error: {exc}", err=True)
        return exc.exit_code
    except OSError as exc:
        # A full disk outside kdbench's own writers (a cache, a log line): still one line.
        if debug or exc.errno not in NO_ROOM:
            raise
        error = no_room_error(Path(exc.filename or "a file"), exc.strerror or "no space")
        typer.echo(f"kdbench: error: {error}", err=True)
        return error.exit_code
    code = code if isinstance(code, int) else 0
    if code == 130 and _stopped_by:  # typer's exit code for an interrupt (see _stopped_by)
        return _stopped(_stopped_by[0])
    return code


def _check_encodable(args: list[str]) -> None:
    """Every argument is text: a path whose name holds bytes that are not UTF-8 reaches
    Python as surrogates (`\\udcff`), which no result, cache key or JSON file can hold.

    >>> _check_encodable(["evaluate", "--data", "beir/scifact/test"])
    """
    for before, arg in zip(["", *args], args, strict=False):
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError as exc:
            byte = ord(arg[exc.start]) - 0xDC00  # surrogateescape's stand-in for the byte
            option = f"{before} " if before.startswith("-") else ""
            raise UserError(
                f"{option}{arg.encode('utf-8', 'surrogateescape')!r}: byte 0x{byte:02x} is not "
                "UTF-8; kdbench writes every path into UTF-8 results: rename the file or "
                "folder (or pass another path)"
            ) from None


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
