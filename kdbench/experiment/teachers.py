"""Teacher stages: train and score the [teacher] table's model, and score with students that teach.

A teacher's scores cover the training triples, mined exactly as the students' trainings mine
them (the profile's one `Mining`), so a student trains on the triples its teacher scored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kdbench.config import PROFILE_TEACHER, ProfileFile, StudentConfig
from kdbench.experiment.engine import Stage
from kdbench.experiment.inputs import Experiment
from kdbench.options import Mining, group_values, hashed_settings
from kdbench.train.config import EnsembleConfig
from kdbench.train.ensemble import write_ensemble


@dataclass
class Scores:
    """Teacher-score files and the stages that write them (none for files the profile gives)."""

    files: list[str] = field(default_factory=list)
    writers: list[str] = field(default_factory=list)


def teacher_folder(experiment: Experiment) -> Path:
    return experiment.out / "models" / "teacher"


def profile_teacher_stages(experiment: Experiment) -> tuple[list[Stage], Scores]:
    """The [teacher] table: its given score files, or a teacher trained and scored here."""
    profile = experiment.profile
    given = [experiment.resolve(s) for s in profile.teacher.scores]
    if given or not profile.teacher.model:
        return [], Scores(given)
    scores_file = experiment.out / "teacher" / "scores.tsv"
    stages = [
        _teacher_train_stage(experiment),
        Stage(
            "teacher/score",
            "score the training triples with the teacher",
            {
                "source": experiment.source,
                "triples": experiment.triples,
                **experiment.hashed_mining(),
            },
            [scores_file],
            score_action(experiment, str(teacher_folder(experiment)), scores_file),
            depends_on=["teacher/train"],
        ),
    ]
    return stages, Scores([str(scores_file)], ["teacher/train", "teacher/score"])


def _teacher_train_stage(experiment: Experiment) -> Stage:
    profile = experiment.profile
    teacher = profile.teacher
    folder = teacher_folder(experiment)

    config = {"teacher": hashed_settings(teacher), **experiment.hashed_training_inputs()}
    return Stage(
        "teacher/train",
        f"train the {teacher.arch} teacher {teacher.model} ({teacher.loss})",
        config,
        [folder / "kdbench.json"],
        experiment.training(folder, teacher),
    )


def score_action(experiment: Experiment, model: str, scores: Path) -> Callable[[], None]:
    """Score the training triples with `model`, mining them exactly as the students' trainings do."""

    def action() -> None:
        from kdbench.train import TeacherConfig, score_teacher

        score_teacher(
            TeacherConfig(
                model=model,
                output=str(scores),
                data=experiment.source,
                split=experiment.profile.data.train_split,
                triples=experiment.triples or None,
                **group_values(Mining, experiment.mining()),
            )
        )

    return action


def student_score_stage(experiment: Experiment, name: str, model: str) -> Stage:
    """A trained student's scores on the training triples, for the students it teaches (or,
    for the name "bm25", BM25's)."""
    data = experiment.profile.data
    scores = experiment.out / "teacher" / "students" / f"{name}.tsv"
    return Stage(
        f"teacher/score/{name}",
        f"score the training triples with {'BM25' if model == 'bm25' else f'student {name}'} "
        "(a teacher of later students)",
        {
            "student": name,
            "model": model,
            "source": experiment.source,
            "triples": experiment.triples,
            "seed": experiment.profile.experiment.seed,
            "dev_queries": data.dev_queries,
            "train_split": data.train_split,
            **experiment.hashed_mining(),
        },
        [scores],
        score_action(experiment, model, scores),
        depends_on=[] if model == "bm25" else [f"train/{name}"],
    )


def ensemble_stage(experiment: Experiment, student: StudentConfig, members: Scores) -> Stage:
    """The student's teachers as one weighted ensemble (`kdbench teacher ensemble`): each member
    normalised (`teacher_normalize`, else query-zscore), weights fitted on the dev slice or given."""
    normalize = student.teacher_normalize or "query-zscore"
    output = experiment.out / "teacher" / "ensembles" / f"{student.name}.tsv"
    weights = None if student.teacher_weights == "fit" else student.teacher_weights

    def action() -> None:

        write_ensemble(
            EnsembleConfig(
                scores=tuple(members.files),
                data=experiment.source,
                output=str(output),
                split=experiment.profile.data.train_split,
                normalize=normalize,
                weights=weights,
            )
        )

    return Stage(
        f"teacher/ensemble/{student.name}",
        # Named for the first student it teaches; later students with the same teachers share it.
        f"combine {', '.join(student.teachers)} ({student.teacher_weights} weights)",
        {"members": members.files, "normalize": normalize, "weights": student.teacher_weights},
        [output],
        action,
        depends_on=members.writers,
        inputs=[f for f in members.files if not members.writers],
    )


def teacher_label(profile: ProfileFile) -> str:
    """The [teacher] table as the report names it: its score files, or its model and arch."""
    teacher = profile.teacher
    if teacher.scores:
        return " + ".join(Path(s).stem for s in teacher.scores) + (
            "" if teacher.normalize == "none" else f" ({teacher.normalize})"
        )
    if teacher.model:
        return f"{Path(teacher.model).name} {teacher.arch}"
    return ""


def teachers_label(profile: ProfileFile, student: StudentConfig) -> str:
    """Whom a distilled student learns from, as the report names it."""
    if not student.teachers:
        return teacher_label(profile)
    names = [teacher_label(profile) if t == PROFILE_TEACHER else t for t in student.teachers]
    if student.teacher_weights:
        how = (
            "weights fitted on dev" if student.teacher_weights == "fit" else student.teacher_weights
        )
        return " + ".join(names) + f" ({student.teacher_normalize or 'query-zscore'}, {how})"
    normalize = student.teacher_normalize or profile.teacher.normalize
    return " + ".join(names) + ("" if normalize == "none" else f" ({normalize})")
