"""Options shared by every command that loads a model, defined once so their text agrees."""

from __future__ import annotations

from typing import Any

import typer


def allow_pickle_option() -> Any:
    return typer.Option(
        False,
        "--allow-pickle",
        help="Load pickled weights (pytorch_model.bin); unpickling can run code: trusted sources only.",
    )


def trust_remote_code_option() -> Any:
    return typer.Option(
        False,
        "--trust-remote-code",
        help="Run a hub model's own Python code (needed by some architectures): trusted sources only.",
    )
