"""The typer app: parse options, call the library, render. Nothing heavy is imported here.

Each command lives in `kdbench/commands/NAME.py` and registers itself on `app`; heavy
libraries (torch, transformers, onnxruntime, tensorrt) are imported inside the command
bodies, so `kdbench --help` answers at once.
"""

from __future__ import annotations

import os
import signal
import sys
from types import FrameType

import click
import typer

from kdbench import __version__
from kdbench.commands import env as env_command
from kdbench.commands import evaluate as evaluate_command
from kdbench.commands import profile as profile_command
from kdbench.commands import report as report_command
from kdbench.commands import run as run_command
from kdbench.commands import teacher as teacher_command
from kdbench.commands import train as train_command
from kdbench.errors import UserError

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


for _command in (
    env_command,
    evaluate_command,
    train_command,
    teacher_command,
    profile_command,
    report_command,
    run_command,
):
    _command.register(app)


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised like Ctrl-C so every `finally` and checkpoint-on-interrupt path runs."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise _Terminated()


def main(argv: list[str] | None = None) -> int:
    """Console entry point: user errors are one line on stderr and exit code 2."""
    if argv is None:
        signal.signal(signal.SIGTERM, _on_sigterm)
    debug = os.environ.get("KDBENCH_DEBUG") == "1" or "--debug" in (
        argv if argv is not None else sys.argv
    )
    try:
        # With standalone_mode=False click returns the code of a typer.Exit instead of raising it.
        code = app(args=argv, prog_name="kdbench", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code or 0)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except _Terminated:
        typer.echo(
            "kdbench: terminated (SIGTERM); finished work is kept, rerun to continue", err=True
        )
        return 143
    except (click.exceptions.Abort, KeyboardInterrupt):
        typer.echo("kdbench: interrupted; finished work is kept, rerun to continue", err=True)
        return 130
    except UserError as exc:
        if debug:
            raise
        typer.echo(f"kdbench: error: {exc}", err=True)
        return exc.exit_code
    return code if isinstance(code, int) else 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
