"""`kdbench run PROFILE`: an experiment as an ordered list of stages.

Each stage has a config hash and output files. A stage whose outputs exist with the same
hash (recorded in `<output>/stages/<stage>.json` after it finished) is skipped, so an
interrupted run continues where it stopped and a changed setting reruns only what it
affects. Everything is written under `results/<profile>/`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdbench.config import TEACHER_LOSSES, ProfileFile, StudentConfig, config_hash
from kdbench.io import atomic_write_json, folder_lock
from kdbench.results import load_result, new_result, save_result


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


def _stage_record(out: Path, stage: Stage) -> Path:
    return out / "stages" / (stage.name.replace("/", "__") + ".json")


def stage_done(out: Path, stage: Stage, hashes: dict[str, str]) -> bool:
    """Done = its record holds the same config hash and the same upstream hashes, and outputs exist."""
    import json

    record = _stage_record(out, stage)
    if not record.exists() or not all(p.exists() for p in stage.outputs):
        return False
    try:
        data = json.loads(record.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    upstream = {name: hashes.get(name) for name in stage.depends_on}
    return bool(data.get("hash") == stage.hash and data.get("upstream") == upstream)


def student_label(student: StudentConfig) -> str:
    return student.name


def teacher_label(profile: ProfileFile) -> str:
    teacher = profile.teacher
    if teacher.scores:
        return " + ".join(Path(s).stem for s in teacher.scores) + (
            "" if teacher.normalize == "none" else f" ({teacher.normalize})"
        )
    if teacher.model:
        return f"{Path(teacher.model).name} {teacher.arch}"
    return ""


def plan(profile: ProfileFile, profile_path: Path) -> list[Stage]:
    """Resolve every stage of `profile` (nothing runs here)."""
    from kdbench import stages

    return stages.build_stages(profile, profile_path)


def run_profile_file(
    profile: ProfileFile,
    profile_path: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    out = profile.output_dir
    all_stages = plan(profile, profile_path)
    hashes = {s.name: s.hash for s in all_stages}
    if dry_run:
        _print_plan(profile, all_stages, out, hashes)
        return None
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from kdbench.stages import check_inputs

    check_inputs(profile, profile_path)
    with folder_lock(out, "kdbench run"):
        started = time.perf_counter()
        timings: dict[str, dict[str, Any]] = {}
        with Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total} stages"),
            TimeElapsedColumn(),
            transient=False,
        ) as progress:
            task = progress.add_task(profile.experiment.name, total=len(all_stages))
            for stage in all_stages:
                if not force and stage_done(out, stage, hashes):
                    progress.console.print(
                        f"[dim]skip {stage.name}: done with the same config ({stage.hash})[/]"
                    )
                    timings[stage.name] = {"status": "skipped"}
                    progress.advance(task)
                    continue
                progress.update(task, description=f"{profile.experiment.name}: {stage.name}")
                progress.console.print(f"[bold]run[/] {stage.name}: {stage.description}")
                t0 = time.perf_counter()
                stage.action()
                seconds = time.perf_counter() - t0
                atomic_write_json(
                    _stage_record(out, stage),
                    {
                        "stage": stage.name,
                        "hash": stage.hash,
                        "seconds": round(seconds, 3),
                        "upstream": {name: hashes.get(name) for name in stage.depends_on},
                        "outputs": [str(p) for p in stage.outputs],
                    },
                )
                timings[stage.name] = {"status": "ran", "seconds": round(seconds, 3)}
                progress.advance(task)
        echo(
            f"finished {profile.experiment.name} in {time.perf_counter() - started:.0f} s; "
            f"wrote {out / 'report.md'}, {out / 'report.html'}, {out / 'results.json'}"
        )
    return load_result(out / "results.json")


def _print_plan(
    profile: ProfileFile, stages_: list[Stage], out: Path, hashes: dict[str, str]
) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"kdbench run plan: {profile.experiment.name} → {out}/")
    for header in ("#", "stage", "what", "outputs", "status"):
        table.add_column(header)
    for i, stage in enumerate(stages_, 1):
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


def distillation_pairs(profile: ProfileFile, models: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """KD vs no-KD twins: trained students of the same model, architecture and layers, one with a teacher."""
    from kdbench.report.pairs import pair_rows

    by_label = {m["label"]: m for m in models if m.get("evaluate")}
    pairs = []
    students = [s for s in profile.students if s.train]
    for kd in students:
        if kd.loss not in TEACHER_LOSSES:
            continue
        for nokd in students:
            if nokd.loss in TEACHER_LOSSES or (nokd.model, nokd.arch, nokd.layers) != (
                kd.model,
                kd.arch,
                kd.layers,
            ):
                continue
            for label, model in by_label.items():
                if label == kd.name or label.startswith(f"{kd.name} ("):
                    twin = by_label.get(nokd.name + label[len(kd.name) :])
                    if twin is not None:
                        pairs.append(pair_rows(model["evaluate"], twin["evaluate"]))
    return pairs


def write_summary(
    profile: ProfileFile,
    profile_path: Path,
    models: list[dict[str, Any]],
    references: list[dict[str, Any]],
) -> dict[str, Any]:
    """results.json (kind "run"), report.md and report.html from the stage results."""
    from kdbench.report import report_meta
    from kdbench.report.render import to_html, to_markdown
    from kdbench.report.rows import rows_from_results

    out = profile.output_dir
    result = new_result("run", {**profile.to_dict(), "profile_file": str(profile_path)})
    result["models"] = models
    result["references"] = references
    result["pairs"] = distillation_pairs(profile, models)
    save_result(out / "results.json", result)
    rows = rows_from_results([result])
    meta = report_meta([result], profile.experiment.name)
    meta["data"] = profile.data.source
    from kdbench.io import atomic_write_text

    atomic_write_text(out / "report.md", to_markdown(rows, meta))
    atomic_write_text(out / "report.html", to_html(rows, meta))
    return result
