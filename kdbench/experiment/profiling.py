"""Profile stages: each student's latency, throughput and memory on every backend and device."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdbench.config import StudentConfig
from kdbench.experiment.engine import Stage
from kdbench.experiment.inputs import Experiment
from kdbench.experiment.students import Models
from kdbench.options import Timing, group_values, hashed_settings


def result_path(experiment: Experiment, student: StudentConfig) -> Path:
    return experiment.out / "profile" / f"{student.name}.json"


def profile_stage(experiment: Experiment, student: StudentConfig, models: Models) -> Stage:
    settings = experiment.profile.profile
    model = models.path[student.name]
    config: dict[str, Any] = {
        "student": student.name,
        "model": model,
        "profile": hashed_settings(settings),
        "source": experiment.source,
        "threads": experiment.profile.experiment.threads,
    }
    if not student.train:
        # The student's own split_layer, left out at its default like every setting added later.
        config.update({k: v for k, v in hashed_settings(student).items() if k == "split_layer"})
    return Stage(
        f"profile/{student.name}",
        f"profile {student.arch} on {', '.join(settings.backends)} ({', '.join(settings.devices)})",
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
        from kdbench.profile import run_profile
        from kdbench.profile.config import ProfileConfig, index_sizes
        from kdbench.results import save_result

        results = []
        for device in settings.devices:
            config = ProfileConfig(
                model=model,
                arch=student.arch if as_is else None,
                split_layer=(student.split_layer or None) if as_is else None,
                scenario=settings.scenarios[0] if settings.scenarios else None,
                backends=tuple((b, None) for b in settings.backends),
                precisions=tuple(settings.precisions),
                device=device,
                batch_sizes=tuple(settings.batch_sizes),
                seq_lens=tuple(settings.seq_lens),
                depths=(settings.depth,),
                index_size=index_sizes(settings.index_size),
                baseline_arch=settings.baseline_arch or None,
                data=experiment.source,
                split=profile.data.test_splits[0],
                threads=profile.experiment.threads or None,
                parity_queries=settings.parity_queries,
                parity_depth=settings.parity_depth,
                extra={"layers": student.layers} if as_is and student.layers else {},
                **group_values(Timing, settings),
            )
            results.append(run_profile(config))
        result = _merge_devices(results)
        result["config"]["label"] = student.name
        save_result(result_path(experiment, student), result)

    return action


def _merge_devices(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One result for every device: the last device's record with every device's cells."""
    result = results[-1]
    result["results"] = [cell for r in results for cell in r.get("results", [])]
    if "baseline" in result:  # every device's baseline cells, like the model's own
        result["baseline"]["results"] = [
            cell for r in results for cell in r.get("baseline", {}).get("results", [])
        ]
    return result
