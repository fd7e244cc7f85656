"""The stage engine: a stage's hash, when a finished stage may be skipped, the plan, the run.

Each stage has a config hash and output files. A stage whose outputs exist with the same
hash and the same upstream hashes (recorded in `<output>/stages/<stage>.json` after it
finished) is skipped, so an interrupted run continues where it stopped and a changed setting
reruns only what it affects. This module knows nothing of profiles: builders make the stages.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdbench.hashing import config_hash
from kdbench.io import atomic_write_json, folder_lock


@dataclass
class Stage:
    name: str  # e.g. "train/dot-L2-margin-mse"
    description: str
    config: dict[str, Any]
    outputs: list[Path]
    action: Callable[[], None]
    depends_on: list[str] = field(default_factory=list)
    inputs: list[str] = field(default_factory=list)  # files it reads that no stage produces

    @property
    def hash(self) -> str:
        return config_hash(
            {"stage": self.name, "config": self.config, "depends_on": sorted(self.depends_on)}
        )


def stage_record(out: Path, stage: Stage) -> Path:
    return out / "stages" / (stage.name.replace("/", "__") + ".json")


def stage_done(out: Path, stage: Stage, hashes: dict[str, str]) -> bool:
    """Done = its record holds the same config hash and the same upstream hashes, and outputs exist."""
    record = stage_record(out, stage)
    if not record.exists() or not all(p.exists() for p in stage.outputs):
        return False
    try:
        data = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    upstream = {name: hashes.get(name) for name in stage.depends_on}
    return bool(data.get("hash") == stage.hash and data.get("upstream") == upstream)


def run_stages(title: str, stages: list[Stage], out: Path, *, force: bool = False) -> None:
    """Run every stage not done yet, in order, under a lock on `out`, with a progress bar."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    hashes = {s.name: s.hash for s in stages}
    with (
        folder_lock(out, "kdbench run"),
        Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} stages"),
            TimeElapsedColumn(),
            transient=False,
        ) as progress,
    ):
        task = progress.add_task(title, total=len(stages))
        for stage in stages:
            if not force and stage_done(out, stage, hashes):
                progress.console.print(
                    f"[dim]skip {stage.name}: done with the same config ({stage.hash})[/]"
                )
            else:
                progress.update(task, description=f"{title}: {stage.name}")
                progress.console.print(f"[bold]run[/] {stage.name}: {stage.description}")
                _run_one(out, stage, hashes)
            progress.advance(task)


def _run_one(out: Path, stage: Stage, hashes: dict[str, str]) -> None:
    started = time.perf_counter()
    stage.action()
    atomic_write_json(
        stage_record(out, stage),
        {
            "stage": stage.name,
            "hash": stage.hash,
            "seconds": round(time.perf_counter() - started, 3),
            "upstream": {name: hashes.get(name) for name in stage.depends_on},
            "outputs": [str(p) for p in stage.outputs],
        },
    )


def print_plan(title: str, stages: list[Stage], out: Path) -> None:
    """The dry run: every stage, what it writes, and whether it would run."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    hashes = {s.name: s.hash for s in stages}
    table = Table(title=f"kdbench run plan: {title} → {out}/")
    for header in ("#", "stage", "what", "outputs", "status"):
        table.add_column(header)
    for i, stage in enumerate(stages, 1):
        missing = [p for p in stage.inputs if not Path(p).exists()]
        if missing:
            status = "[red]missing input: " + escape(", ".join(missing)) + "[/]"
        else:
            status = "done (skip)" if stage_done(out, stage, hashes) else "to run"
        outputs = "\n".join(str(p) for p in stage.outputs)
        table.add_row(
            str(i), escape(stage.name), escape(stage.description), escape(outputs), status
        )
    Console(width=220).print(table)
