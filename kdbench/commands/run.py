"""`kdbench run PROFILE`: train, evaluate, profile and report as one resumable experiment."""

from __future__ import annotations

from pathlib import Path

import typer

from kdbench.commands.options import path_option
from kdbench.config import load_profile
from kdbench.experiment import run_experiment


def run(
    profile: Path = typer.Argument(
        ..., help="An experiment profile, e.g. profiles/quickstart.toml."
    ),
    dry_run: bool = typer.Option(
        False, "--dry-run", help="Resolve every stage and print the plan; run nothing."
    ),
    force: bool = typer.Option(
        False, "--force", help="Rerun stages even when their outputs are up to date."
    ),
    output: Path | None = path_option(
        None, "--output", "-o", help="Results folder (default: results/<profile name>)."
    ),
) -> None:
    """Run an experiment profile stage by stage; finished stages are skipped on rerun."""
    import dataclasses

    loaded = load_profile(profile)
    if output is not None:
        loaded = dataclasses.replace(
            loaded, experiment=dataclasses.replace(loaded.experiment, output=str(output))
        )
    run_experiment(loaded, profile, dry_run=dry_run, force=force, echo=typer.echo)
