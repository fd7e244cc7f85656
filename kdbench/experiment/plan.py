"""A profile as its ordered stages, and `kdbench run`: check the inputs, run what is not done."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdbench.config import ProfileFile
from kdbench.experiment.engine import Stage, print_plan, run_stages
from kdbench.experiment.evaluation import evaluation_stage, evaluations
from kdbench.experiment.inputs import Experiment, check_inputs
from kdbench.experiment.profiling import (
    BM25_LABEL,
    bm25_profile_stage,
    bm25_result_path,
    profile_stage,
    profiles_bm25,
    result_path,
)
from kdbench.experiment.students import training_stages
from kdbench.experiment.summary import run_conclusion, summary_stage
from kdbench.experiment.teachers import profile_teacher_stages
from kdbench.results import load_result


def plan(profile: ProfileFile, path: Path) -> list[Stage]:
    """Every stage of `profile`, in the order they run (nothing runs here).

    Teachers first, then each student's training (after the students that teach it), the
    evaluations, the profiles, and the report over all of them.
    """
    experiment = Experiment.of(profile, path)
    stages, teacher = profile_teacher_stages(experiment)
    trainings, models = training_stages(experiment, teacher)
    stages += trainings
    evaluated = evaluations(experiment, models)
    stages += [evaluation_stage(experiment, e, models) for e in evaluated]
    profiles: dict[str, Path] = {}
    if profiles_bm25(experiment):
        stages.append(bm25_profile_stage(experiment))
        profiles[BM25_LABEL] = bm25_result_path(experiment)
    if profile.profile.enabled:
        for student in profile.students:
            stages.append(profile_stage(experiment, student, models))
            profiles[student.name] = result_path(experiment, student)
    stages.append(summary_stage(experiment, evaluated, profiles, models, [s.name for s in stages]))
    return stages


def run_experiment(
    profile: ProfileFile,
    path: Path,
    *,
    dry_run: bool = False,
    force: bool = False,
    echo: Callable[[str], None] = print,
) -> dict[str, Any] | None:
    """Run (or, with `dry_run`, show) the profile's stages; returns its results.json."""
    import time

    out = profile.output_dir
    stages = plan(profile, path)
    name = profile.experiment.name
    if dry_run:
        print_plan(name, stages, out)
        return None
    check_inputs(profile, path)
    started = time.perf_counter()
    run_stages(name, stages, out, force=force)
    echo(
        f"finished {name} in {time.perf_counter() - started:.0f} s; "
        f"wrote {out / 'report.md'}, {out / 'report.html'}, {out / 'results.json'}"
    )
    result = load_result(out / "results.json")
    # What the run found, last: the lines a reader acts on (computed from results.json).
    echo("")
    for line in run_conclusion(profile, result):
        echo(line)
    return result
