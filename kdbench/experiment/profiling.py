"""Profile stages: each student's latency, throughput and memory on every backend and device,
and the BM25 first stage's per-query latency (`profile/bm25`), so BM25 is a row with a cost
and every re-ranker's row adds its first stage."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdbench.backends import parse_backend_list
from kdbench.config import StudentConfig, profile_runs
from kdbench.experiment.engine import Stage
from kdbench.experiment.inputs import Experiment
from kdbench.experiment.students import Models
from kdbench.options import Timing, default_of, group_values, hashed_settings
from kdbench.profile import run_profile
from kdbench.profile.config import ProfileConfig
from kdbench.profile.measurements import ProfileResult
from kdbench.results import save_result

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


def student_backends(experiment: Experiment, student: StudentConfig) -> list[str]:
    """The backends `student` is profiled on (NAME or NAME:PRECISION): its own list, else
    [profile].backends."""
    if student.backends:
        return list(student.backends)
    return [backend_name(pair) for pair in experiment.profile.profile.backends]


def backend_name(pair: tuple[str, str | None]) -> str:
    """("onnx", "int8") -> "onnx:int8", as profiles and `--backend` write it."""
    name, precision = pair
    return f"{name}:{precision}" if precision else name


def result_path(experiment: Experiment, student: StudentConfig) -> Path:
    return experiment.out / "profile" / f"{student.name}.json"


# How [profile] entered stage hashes before it was declared from `kdbench profile`'s fields
# (kept, so finished stages stay done): these keys at any value, under their old names and
# spellings; every other setting only when set (see `profile_hash_settings`).
HASHED_ALWAYS = (
    "warmup",
    "min_samples",
    "min_duration_s",
    "backends",
    "devices",
    "precisions",
    "scenarios",
    "batch_sizes",
    "seq_lens",
    "depths",
    "parity_queries",
    "parity_depth",
    "enabled",
)
HASHED_AS = {"depths": "depth"}


def profile_hash_settings(
    settings: DataclassInstance, leave_out: tuple[str, ...] = ()
) -> dict[str, object]:
    """[profile] as it enters a profile stage's config hash (see HASHED_ALWAYS)."""
    hashed: dict[str, object] = {}
    for f in dataclasses.fields(settings):
        if f.name in leave_out:
            continue
        value = getattr(settings, f.name)
        if f.name not in HASHED_ALWAYS and value == default_of(f):
            continue
        hashed[HASHED_AS.get(f.name, f.name)] = _as_written(f.name, value)
    return hashed


def _as_written(name: str, value: Any) -> Any:
    """A setting as the old [profile] held it: lists, backends as text, one depth or index
    size as a number."""
    if name == "backends":
        return [backend_name(pair) for pair in value]
    if name in ("depths", "index_size") and isinstance(value, tuple) and len(value) == 1:
        return value[0]
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, Path):
        return str(value)
    return value


def profile_stage(experiment: Experiment, student: StudentConfig, models: Models) -> Stage:
    settings = experiment.profile.profile
    model = models.path[student.name]
    config: dict[str, Any] = {
        "student": student.name,
        "model": model,
        # the server cell's settings count only for the rows that get one
        "profile": profile_hash_settings(
            settings, () if _serves_queries(student.arch) else SERVER_SETTINGS
        ),
        "source": experiment.source,
        "threads": experiment.profile.experiment.threads,
    }
    if not student.train:
        # The student's own split_layer, left out at its default like every setting added later.
        config.update({k: v for k, v in hashed_settings(student).items() if k == "split_layer"})
    config.update({k: getattr(student, k) for k in ("backends", "seq_lens") if getattr(student, k)})
    backends = student_backends(experiment, student)
    return Stage(
        f"profile/{student.name}",
        f"profile {student.arch} on {', '.join(backends)} ({', '.join(settings.devices)})"
        + (f", scenarios {', '.join(settings.scenarios)}" if settings.scenarios else ""),
        config,
        [result_path(experiment, student)],
        _profile_action(experiment, student, model),
        depends_on=models.writers[student.name],
    )


def _profile_action(
    experiment: Experiment, student: StudentConfig, model: str
) -> Callable[[], None]:
    profile = experiment.profile
    settings = profile.profile
    as_is = not student.train  # a checkpoint trained here carries its own architecture

    def action() -> None:
        per_student: dict[str, Any] = {
            "model": model,
            "arch": student.arch if as_is else None,
            "split_layer": (student.split_layer or None) if as_is else None,
            "data": experiment.source,
            "split": profile.data.test_splits[0],
            "threads": profile.experiment.threads or None,
            "extra": {"layers": student.layers} if as_is and student.layers else {},
        }
        if student.backends:
            per_student["backends"] = tuple(parse_backend_list(",".join(student.backends)))
        if student.seq_lens:
            per_student["seq_lens"] = tuple(student.seq_lens)
        # every device and scenario, each run as `kdbench profile` would run it
        results = []
        for run in profile_runs(settings, **per_student):
            result = run_profile(run, allow_unread=True)  # checked as [profile] is read
            if settings.server_bound and _serves_queries(student.arch):
                _add_server_cells(result, run, settings)
            results.append(result)
        result = merge_runs(results)
        result.header.config["label"] = student.name
        save_result(result_path(experiment, student), result.to_dict())

    return action


SERVER_SETTINGS = (
    "server_bound",
    "server_backend",
    "max_batch",
    "max_wait_ms",
    "min_queries",
    "min_query_duration_s",
    "search_budget_s",
)


def _serves_queries(arch: str | None) -> bool:
    """A dense row: its architecture's own scenario encodes the query and searches."""
    from kdbench.models.registry import ARCHITECTURES

    return arch is not None and ARCHITECTURES[arch].default_scenario == "query"


def _add_server_cells(result: ProfileResult, run: ProfileConfig, settings: Any) -> None:
    """The row's server cell (`[profile] server_bound`): its query served on one backend
    under Poisson traffic, the highest QPS within the bound searched; appended to `result`'s
    cells, so the report shows it as a row of the same model.

    `run` is one of `profile_runs(settings)`, so it already holds every server setting of
    [profile] (max_batch, min_queries, ...: `kdbench profile`'s own fields); the server cell
    differs from it only by its scenario, backend, bound and the batch the load decides."""
    served = run_profile(
        dataclasses.replace(
            run,
            scenario="server",
            backends=tuple(parse_backend_list(settings.server_backend)),
            batch_sizes=None,
            bound=settings.server_bound,
        ),
        allow_unread=True,
    )
    result.cells.extend(served.cells)
    cores = served.header.environment["threads"]["cores"]
    result.header.environment["threads"]["cores"] = cores


BM25_LABEL = "bm25"


def profiles_bm25(experiment: Experiment) -> bool:
    """BM25 is profiled when it is a reference row or the first stage students re-rank."""
    profile = experiment.profile
    reranks = profile.evaluate.mode == "rerank" or any(
        s.eval_mode == "rerank" for s in profile.students
    )
    first_stage_is_bm25 = profile.first_stage.method == "bm25" and not profile.first_stage.run
    return profile.profile.enabled and (
        BM25_LABEL in profile.evaluate.references or (reranks and first_stage_is_bm25)
    )


def bm25_result_path(experiment: Experiment) -> Path:
    return experiment.out / "profile" / f"{BM25_LABEL}.json"


def bm25_profile_stage(experiment: Experiment) -> Stage:
    """Per-query BM25 latency on the first test split, retrieving as many candidates as the
    re-rankers' profiled cells score (`[profile] depth`): their first stage."""
    profile = experiment.profile
    settings, first_stage = profile.profile, profile.first_stage
    depths = settings.depths
    config: dict[str, Any] = {
        "model": BM25_LABEL,
        "depths": list(depths),
        "bm25": [first_stage.k1, first_stage.b],
        "timing": group_values(Timing, settings),
        "source": experiment.source,
        "split": profile.data.test_splits[0],
    }

    def action() -> None:

        result = run_profile(
            ProfileConfig(
                model=BM25_LABEL,
                data=experiment.source,
                split=profile.data.test_splits[0],
                depths=depths,
                bm25_k1=first_stage.k1,
                bm25_b=first_stage.b,
                **group_values(Timing, settings),
            )
        )
        result.header.config["label"] = BM25_LABEL
        save_result(bm25_result_path(experiment), result.to_dict())

    return Stage(
        f"profile/{BM25_LABEL}",
        f"profile BM25 per query (top {', '.join(map(str, depths))})",
        config,
        [bm25_result_path(experiment)],
        action,
    )


def merge_runs(results: list[ProfileResult]) -> ProfileResult:
    """One result for several runs (devices, scenarios): the last run's record with every
    run's cells, in run order."""
    result = results[-1]
    result.cells = [cell for r in results for cell in r.cells]
    result.backends = {k: v for r in results for k, v in r.backends.items()}
    growth = [fit for r in results for fit in r.growth]
    if growth:
        result.growth = growth
    baselines = [r.baseline for r in results if r.baseline is not None]
    if baselines:  # every run's baseline cells, like the model's
        if result.baseline is None:
            result.baseline = baselines[0]
        result.baseline.cells = [cell for baseline in baselines for cell in baseline.cells]
    return result
