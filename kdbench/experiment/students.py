"""Training stages: one per student trained here, after the teachers it learns from."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from kdbench.config import BM25_TEACHER, PROFILE_TEACHER, StudentConfig
from kdbench.data.irds import names_dataset_part
from kdbench.experiment.engine import Stage
from kdbench.experiment.inputs import Experiment
from kdbench.experiment.teachers import Scores, ensemble_stage, student_score_stage
from kdbench.hashing import file_digest
from kdbench.losses import teacher_losses
from kdbench.options import hashed_settings


@dataclass
class Models:
    """Each student's model (a folder trained here, or the model as given) and the stages
    that write it (none for a model used as it is)."""

    path: dict[str, str] = field(default_factory=dict)
    writers: dict[str, list[str]] = field(default_factory=dict)


def training_stages(experiment: Experiment, teacher: Scores) -> tuple[list[Stage], Models]:
    """Every student's training stage, and the score stages of students that teach others."""
    stages: list[Stage] = []
    models = Models()
    taught_by: dict[str, Scores] = {}  # students that teach: their score file and its writers
    # Students whose ensembles would be configured alike (members, normalisation as resolved,
    # weights: the stage's config) share one ensemble stage.
    ensembles: dict[str, Stage] = {}
    for student in experiment.profile.students:
        if not student.train:
            models.path[student.name] = student.model
            models.writers[student.name] = []
            continue
        scores = Scores()
        produced: set[str] = set()
        for name in _teachers(student):
            if name == PROFILE_TEACHER:
                source = teacher
            else:
                if name not in taught_by:
                    model = "bm25" if name == BM25_TEACHER else models.path[name]
                    stages.append(student_score_stage(experiment, name, model))
                    # Both, so a retrained teacher student reruns its pupils (see stage_done).
                    writers = [] if name == BM25_TEACHER else models.writers[name]
                    taught_by[name] = Scores(
                        [str(stages[-1].outputs[0])], [*writers, stages[-1].name]
                    )
                source = taught_by[name]
            scores.files += source.files
            scores.writers += [w for w in source.writers if w not in scores.writers]
            if source.writers:
                produced.update(source.files)
        if student.teacher_weights:
            ensemble = ensemble_stage(experiment, student, scores)
            key = json.dumps(ensemble.config, sort_keys=True)
            if key not in ensembles:
                ensembles[key] = ensemble
                stages.append(ensemble)
            scores = Scores([str(ensembles[key].outputs[0])], [ensembles[key].name])
            produced = set(scores.files)
        stages.append(train_stage(experiment, student, scores, produced))
        models.path[student.name] = str(experiment.out / "models" / student.name)
        models.writers[student.name] = [f"train/{student.name}"]
    return stages, models


def _teachers(student: StudentConfig) -> list[str]:
    """Whom the student learns from: none for a loss on labels, else its list or the [teacher]."""
    if student.loss not in teacher_losses():
        return []
    return student.teachers or [PROFILE_TEACHER]


def train_stage(
    experiment: Experiment, student: StudentConfig, teacher: Scores, produced: set[str]
) -> Stage:
    """Train `student` on the profile's triples, distilled from `teacher`'s score files."""
    profile = experiment.profile
    folder = experiment.out / "models" / student.name
    # A weighted ensemble was normalised when it was built; a plain mean is normalised here.
    normalize = (
        "none"
        if student.teacher_weights
        else student.teacher_normalize or profile.teacher.normalize
    )

    action = experiment.training(
        folder,
        student,
        teacher_scores=tuple(teacher.files),
        teacher_normalize=normalize,
        extra={"study": profile.experiment.name, "student": student.name},
    )
    config = {
        "student": hashed_settings(student),
        **experiment.hashed_training_inputs(),
        "teacher": {
            s: "produced-by-stage" if s in produced else file_digest(s) for s in teacher.files
        },
        "normalize": normalize,
        "dev_queries": profile.data.dev_queries,
        "train_split": profile.data.train_split,
    }
    source = (
        f" from {', '.join(Path(s).name for s in teacher.files)}"
        if teacher.files
        else " (no teacher)"
    )
    return Stage(
        f"train/{student.name}",
        f"train {student.arch} {student.model} with {student.loss}{source}",
        config,
        [folder / "kdbench.json"],
        action,
        depends_on=teacher.writers,
        inputs=[
            p
            for p in [*teacher.files, experiment.triples]
            if p and not teacher.writers and not names_dataset_part(p)
        ],
    )
