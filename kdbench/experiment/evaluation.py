"""Evaluation stages: the references (BM25), the trained teacher and every student, per test split.

Each student is also evaluated through every profiled backend and precision whose scores are
not eager fp32's to float tolerance (`kdbench.backends.evaluated_apart`: int8, fp16, bf16,
every TensorRT engine), on the first test split (the one its profile's rows go with), so
each row of the report shows the quality of the artifact it times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kdbench.backends import BACKENDS, evaluated_apart, parse_backend_list
from kdbench.config import PROFILE_TEACHER, StudentConfig
from kdbench.data.irds import names_dataset_part
from kdbench.errors import UserError
from kdbench.evaluate.pipeline import EvaluateConfig, evaluate
from kdbench.evaluate.result import EvaluateResult
from kdbench.experiment.engine import Stage
from kdbench.experiment.inputs import Experiment, resolve_path
from kdbench.experiment.profiling import student_backends
from kdbench.experiment.students import Models
from kdbench.experiment.teachers import teacher_folder
from kdbench.models.registry import ARCHITECTURES, archs_where
from kdbench.options import hashed_settings
from kdbench.results import load_result, save_result


@dataclass(frozen=True)
class Evaluated:
    """One evaluation a stage writes: what was evaluated, on which split, where the result is."""

    label: str  # the report's row: the student's name, "bm25", "teacher" (+ " (split)")
    path: Path
    split: str
    model: str  # what is evaluated: a reference name, a model folder or hub id
    student: StudentConfig | None = None  # None: a reference or the teacher
    is_teacher: bool = False
    backend: str = "eager"  # what it scores through (kdbench evaluate --backend)
    precision: str = "fp32"
    device: str | None = None  # None: the evaluation's default (cpu)

    @property
    def artifact(self) -> str:
        """'' for eager fp32, else '@onnx-int8': how its stage and file are told apart."""
        if (self.backend, self.precision) == ("eager", "fp32"):
            return ""
        return f"@{self.backend}-{self.precision}"


def evaluations(experiment: Experiment, models: Models) -> list[Evaluated]:
    """Per test split: the references, the trained teacher when asked, then every student."""
    profile = experiment.profile
    splits = profile.data.test_splits
    found: list[Evaluated] = []

    def add(
        name: str,
        split: str,
        model: str,
        student: StudentConfig | None = None,
        is_teacher: bool = False,
    ) -> None:
        label = name if len(splits) == 1 else f"{name} ({split})"
        path = experiment.out / "evaluate" / _file_name(label)
        found.append(Evaluated(label, path, split, model, student, is_teacher))

    for split in splits:
        for reference in profile.evaluate.references:
            add(reference, split, reference)
        if profile.teacher.evaluate:
            add(PROFILE_TEACHER, split, str(teacher_folder(experiment)), is_teacher=True)
        for student in profile.students:
            add(student.name, split, models.path[student.name], student=student)
    for student in profile.students:
        for backend, precision, device in backend_artifacts(experiment, student):
            label = student.name if len(splits) == 1 else f"{student.name} ({splits[0]})"
            path = experiment.out / "evaluate" / _file_name(f"{label}@{backend}-{precision}")
            model = models.path[student.name]
            found.append(
                Evaluated(label, path, splits[0], model, student, False, backend, precision, device)
            )
    return found


def backend_artifacts(experiment: Experiment, student: StudentConfig) -> list[tuple[str, str, str]]:
    """(backend, precision, device) of every profiled artifact of `student` that needs an
    evaluation of its own, each once, on the first device that runs it."""

    settings = experiment.profile.profile
    if not settings.enabled or student.quality_from:  # its quality is another run's, eager's
        return []
    found: list[tuple[str, str, str]] = []
    for name, pinned in parse_backend_list(",".join(student_backends(experiment, student))):
        for precision in (pinned,) if pinned else tuple(settings.precisions):
            if not evaluated_apart(name, precision) or any(
                f[:2] == (name, precision) for f in found
            ):
                continue
            device = next(
                (
                    d
                    for d in settings.devices
                    if BACKENDS[name].supports(student.arch, d, precision) is None
                ),
                None,
            )
            if device is not None:
                found.append((name, precision, device))
    return found


def _file_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label).strip("_") + ".json"


def evaluation_stage(experiment: Experiment, evaluated: Evaluated, models: Models) -> Stage:
    """Evaluate a student, the trained teacher, or a reference (BM25)."""
    profile = experiment.profile
    student = evaluated.student
    if evaluated.is_teacher:
        upstream = ["teacher/train"]
    else:
        upstream = models.writers[student.name] if student is not None else []
    mode, arch = _mode_and_arch(experiment, evaluated)
    config = {
        "label": evaluated.label,
        "model": evaluated.model,
        "mode": mode,
        "split": evaluated.split,
        "source": experiment.source,
        "evaluate": hashed_settings(profile.evaluate),
        "first_stage": hashed_settings(profile.first_stage),
        "test_queries": profile.data.test_queries,
        "student": hashed_settings(student) if student else None,
    }
    if evaluated.is_teacher:
        config["teacher"] = hashed_settings(profile.teacher)
    what = "BM25" if mode == "bm25" else f"{arch} {evaluated.label} ({mode})"
    if evaluated.artifact:
        config["backend"] = [evaluated.backend, evaluated.precision, evaluated.device]
        what += f" through {evaluated.backend}:{evaluated.precision}"
    first_run = profile.first_stage.run
    if student is not None and student.quality_from:
        source = resolve_path(student.quality_from, experiment.path)
        return Stage(
            f"evaluate/{evaluated.label}",
            f"quality of {evaluated.label} from {student.quality_from} (another run's evaluation)",
            config,
            [evaluated.path],
            _quality_from_action(evaluated, student.quality_from, source),
            depends_on=upstream,
            inputs=[source],
        )
    return Stage(
        f"evaluate/{evaluated.label}{evaluated.artifact}",
        f"evaluate {what} on {evaluated.split}",
        config,
        [evaluated.path],
        _evaluate_action(experiment, evaluated, mode, arch),
        depends_on=upstream,
        inputs=[first_run] if first_run and not names_dataset_part(first_run) else [],
    )


def _quality_from_action(evaluated: Evaluated, named: str, source: str) -> Callable[[], None]:
    """Another run's evaluation as this row's quality, marked with where it came from."""

    def action() -> None:

        where = f"students.{evaluated.label}.quality_from {named}"
        try:
            result = load_result(source)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        if result.get("kind") != "evaluate":
            raise UserError(
                f"{where}: not a kdbench evaluate result; pass one `kdbench evaluate --output` wrote"
            )
        try:
            evaluation = EvaluateResult.from_dict(result)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        settings = evaluation.settings
        if settings.split != evaluated.split:
            raise UserError(
                f"{where}: evaluated on split {settings.split!r}, this row is on "
                f"{evaluated.split!r}; pass an evaluation of that split"
            )
        settings.label = evaluated.label
        settings.quality_elsewhere = named
        save_result(evaluated.path, evaluation.to_dict())

    return action


def _mode_and_arch(experiment: Experiment, evaluated: Evaluated) -> tuple[str, str]:
    """How it is evaluated (bm25 | rerank | retrieve) and as which architecture."""
    profile = experiment.profile
    student = evaluated.student
    if evaluated.is_teacher:
        return profile.evaluate.mode, profile.teacher.arch
    if student is None:
        return "bm25", "bm25"
    return student.eval_mode or profile.evaluate.mode, student.arch


def _evaluate_action(
    experiment: Experiment, evaluated: Evaluated, mode: str, arch: str
) -> Callable[[], None]:
    profile = experiment.profile
    settings = profile.evaluate
    student = evaluated.student
    # A checkpoint trained here carries its own architecture; a model used as it is needs it named.
    as_is = student is not None and not student.train
    first_run = profile.first_stage.run

    def action() -> None:

        if mode == "retrieve" and not ARCHITECTURES[arch].dense_retrieval:
            who = f"students.{student.name}" if student is not None else "evaluate.mode"
            dense = " or ".join(repr(name) for name in archs_where(lambda a: a.dense_retrieval))
            raise UserError(f"{who}: eval_mode 'retrieve' needs arch {dense} (got {arch})")
        config = EvaluateConfig(
            data=experiment.source,
            split=evaluated.split,
            model="bm25" if mode == "bm25" else evaluated.model,
            arch=arch if as_is else None,
            split_layer=(student.split_layer or None) if student is not None and as_is else None,
            rerank="bm25" if mode == "rerank" and not first_run else None,
            run=(first_run or None) if mode == "rerank" else None,
            depth=profile.first_stage.depth,
            rel=settings.rel,
            batch_size=settings.batch_size,
            max_query_len=settings.max_query_len,
            max_doc_len=settings.max_doc_len,
            layers=(student.layers or None) if student is not None and as_is else None,
            queries=profile.data.test_queries or None,
            bm25_k1=profile.first_stage.k1,
            bm25_b=profile.first_stage.b,
            measures=tuple(settings.measures) or None,
            backend=evaluated.backend,
            precision=evaluated.precision,
            device=evaluated.device or "cpu",
        )
        result = evaluate(config)
        assert result is not None  # one process: it holds the result
        result.settings.label = evaluated.label
        save_result(evaluated.path, result.to_dict())

    return action
