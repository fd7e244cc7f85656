"""The stages of `kdbench run`: a profile's teacher, students, evaluations, profiles and report.

Each stage maps the profile's settings onto the library configs (`TrainConfig`,
`TeacherConfig`, `EvaluateConfig`, `ProfileConfig`) and writes its outputs under
`results/<profile>/`. The stage's config — including the content hash of every input
file it reads — decides whether a rerun may skip it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kdbench.config import (
    PROFILE_TEACHER,
    TEACHER_LOSSES,
    ProfileFile,
    StudentConfig,
    stage_settings,
)
from kdbench.data.irds import names_dataset_part
from kdbench.errors import UserError, stop_exception
from kdbench.results import load_result, save_result
from kdbench.runner import Stage, teacher_label, write_summary


def file_digest(path: str | Path) -> str:
    """Content hash of an input file, so editing it reruns the stages that read it."""
    p = Path(path)
    if not p.is_file():
        return "missing"  # the stage that reads it fails with the file's name; a dry run shows it
    digest = hashlib.sha256()
    with p.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _resolve(path: str, profile_path: Path) -> str:
    """Profile paths are relative to the working directory, or else to the profile's folder."""
    if not path:
        return path
    p = Path(path)
    if p.is_absolute() or p.exists():
        return str(p)
    beside = profile_path.parent / p
    return str(beside) if beside.exists() else str(p)


def check_inputs(profile: ProfileFile, profile_path: Path) -> None:
    """Before any stage runs: the data, splits, files and model folders the profile names exist.

    Each error names the profile key, so a typo costs seconds, not a teacher's training.
    A hub id is left to its stage (checking it may need the network); an ir_datasets id
    must be registered, its files are checked when its stage reads them.
    """
    from kdbench.data.load import folder_splits

    def fail(key: str, message: str) -> None:
        raise UserError(f"{profile_path}: {key}: {message}")

    data = profile.data
    source = _resolve(data.source, profile_path)
    folder = Path(source)
    if folder.is_dir():
        splits = folder_splits(folder)
        needed = [(f"data.test_splits[{i}]", split) for i, split in enumerate(data.test_splits)]
        if profile.teacher.model or any(s.train for s in profile.students):
            needed.insert(0, ("data.train_split", data.train_split))
        for key, split in needed:
            if split not in splits:
                fail(
                    key,
                    f"{source} has no qrels for split {split!r} (it has: {', '.join(splits) or 'none'})",
                )
    elif folder.exists():
        fail("data.source", f"{source} is a file; name the collection folder that holds it")
    elif source.startswith((".", "/", "~")):
        fail("data.source", f"no such folder {source}")
    elif not _is_irds_id(source):
        fail(
            "data.source",
            f"{source}: not a folder and not a registered ir_datasets id (e.g. beir/scifact)",
        )
    files = [("data.triples", data.triples), ("first_stage.run", profile.first_stage.run)]
    files += [(f"teacher.scores[{i}]", s) for i, s in enumerate(profile.teacher.scores)]
    for key, name in files:
        if (
            name
            and not names_dataset_part(name)
            and not Path(_resolve(name, profile_path)).is_file()
        ):
            fail(key, f"no such file {name}")
    models = [(f"students[{i}].model", s.model) for i, s in enumerate(profile.students)]
    if profile.teacher.model and not profile.teacher.scores:
        models.append(("teacher.model", profile.teacher.model))
    for key, name in models:
        path = Path(_resolve(name, profile_path)).expanduser()
        looks_like_path = name.startswith((".", "/", "~")) or name.count("/") > 1
        if looks_like_path and not path.exists():
            fail(key, f"no such model folder {name}")
        if path.exists() and not path.is_dir():
            fail(key, f"{name} is a file; name the model folder that holds config.json")
    if profile.profile.enabled:
        # A missing GPU or library would otherwise surface only after every model is trained.
        from kdbench.backends import BACKENDS

        for device in profile.profile.devices:
            for backend in profile.profile.backends:
                info = BACKENDS[backend]
                reason = info.missing(device)
                if reason is not None:
                    fail(
                        "profile",
                        f"backend {backend!r} on device {device!r}: {reason}; {info.install}",
                    )


def _is_irds_id(source: str) -> bool:
    """A registered ir_datasets id, or the prefix of one (beir/scifact for beir/scifact/test)."""
    import logging

    import ir_datasets

    logging.getLogger("ir_datasets").setLevel(logging.WARNING)
    return any(
        name == source or name.startswith(source + "/") for name in ir_datasets.registry._registered
    )


def _label(name: str, split: str, splits: list[str]) -> str:
    return name if len(splits) == 1 else f"{name} ({split})"


def _file_name(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label).strip("_") + ".json"


def build_stages(profile: ProfileFile, profile_path: Path) -> list[Stage]:
    out = profile.output_dir
    data = profile.data
    source = _resolve(data.source, profile_path)  # a folder, or else an ir_datasets id as written
    triples = _resolve(data.triples, profile_path)
    stages: list[Stage] = []

    # The [teacher] table's score files, and the stages that write them (none for given files).
    profile_teacher = [_resolve(s, profile_path) for s in profile.teacher.scores]
    profile_teacher_stages: list[str] = []
    teacher_dir = out / "models" / "teacher"
    if not profile_teacher and profile.teacher.model:
        scores_file = out / "teacher" / "scores.tsv"
        stages.append(_teacher_train_stage(profile, source, triples, teacher_dir))
        stages.append(_teacher_score_stage(profile, source, triples, teacher_dir, scores_file))
        profile_teacher = [str(scores_file)]
        profile_teacher_stages = ["teacher/train", "teacher/score"]

    model_of: dict[str, str] = {}
    train_stage_of: dict[str, list[str]] = {}
    # Students that teach others: their score file and the stages that write it.
    student_teacher: dict[str, tuple[str, list[str]]] = {}
    for student in profile.students:
        if not student.train:
            model_of[student.name] = student.model
            train_stage_of[student.name] = []
            continue
        folder = out / "models" / student.name
        teacher_scores: list[str] = []
        upstream: list[str] = []
        produced: set[str] = set()
        if student.loss in TEACHER_LOSSES:
            for teacher in student.teachers or [PROFILE_TEACHER]:
                if teacher == PROFILE_TEACHER:
                    files, writers = profile_teacher, profile_teacher_stages
                else:
                    if teacher not in student_teacher:
                        scores_path = out / "teacher" / "students" / f"{teacher}.tsv"
                        stages.append(
                            _student_score_stage(
                                profile, teacher, model_of[teacher], source, triples, scores_path
                            )
                        )
                        # Both, so a retrained teacher student reruns its pupils (see stage_done).
                        student_teacher[teacher] = (
                            str(scores_path),
                            [*train_stage_of[teacher], stages[-1].name],
                        )
                    file, writers = student_teacher[teacher]
                    files = [file]
                teacher_scores += files
                upstream += [w for w in writers if w not in upstream]
                if writers:
                    produced.update(files)
        teacher_inputs = {
            s: "produced-by-stage" if s in produced else file_digest(s) for s in teacher_scores
        }
        stages.append(
            _train_stage(
                profile,
                student,
                source,
                triples,
                teacher_scores,
                teacher_inputs,
                folder,
                upstream,
            )
        )
        model_of[student.name] = str(folder)
        train_stage_of[student.name] = [f"train/{student.name}"]

    evaluation_stages: list[str] = []
    evaluations: dict[str, tuple[Path, StudentConfig | None, str]] = {}
    teacher_labels: set[str] = set()
    for split in data.test_splits:
        for reference in profile.evaluate.references:
            label = _label(reference, split, data.test_splits)
            path = out / "evaluate" / _file_name(label)
            stages.append(_evaluate_stage(profile, label, reference, None, source, split, path, []))
            evaluations[label] = (path, None, split)
            evaluation_stages.append(stages[-1].name)
        if profile.teacher.evaluate:
            label = _label(PROFILE_TEACHER, split, data.test_splits)
            path = out / "evaluate" / _file_name(label)
            stages.append(
                _evaluate_stage(
                    profile,
                    label,
                    str(teacher_dir),
                    None,
                    source,
                    split,
                    path,
                    ["teacher/train"],
                    is_teacher=True,
                )
            )
            evaluations[label] = (path, None, split)
            teacher_labels.add(label)
            evaluation_stages.append(stages[-1].name)
        for student in profile.students:
            label = _label(student.name, split, data.test_splits)
            path = out / "evaluate" / _file_name(label)
            stages.append(
                _evaluate_stage(
                    profile,
                    label,
                    model_of[student.name],
                    student,
                    source,
                    split,
                    path,
                    train_stage_of[student.name],
                )
            )
            evaluations[label] = (path, student, split)
            evaluation_stages.append(stages[-1].name)

    profiles: dict[str, Path] = {}
    if profile.profile.enabled:
        for student in profile.students:
            path = out / "profile" / f"{student.name}.json"
            stages.append(
                _profile_stage(
                    profile,
                    student,
                    model_of[student.name],
                    source,
                    path,
                    train_stage_of[student.name],
                )
            )
            profiles[student.name] = path

    summary_outputs = [out / "results.json", out / "report.md", out / "report.html"]

    def summarise() -> None:
        models = []
        for label, (path, student, _split) in evaluations.items():
            evaluation = load_result(path)
            entry: dict[str, Any] = {"label": label, "evaluate": evaluation}
            if label in teacher_labels:
                teacher = profile.teacher
                entry.update(
                    arch=teacher.arch, loss=teacher.loss, teacher="", model=str(teacher_dir)
                )
            elif student is None:
                entry.update(arch="bm25", teacher="", loss="")
            else:
                entry.update(
                    arch=student.arch,
                    loss=student.loss if student.train else "zero-shot",
                    teacher=_teacher_label(profile, student)
                    if student.train and student.loss in TEACHER_LOSSES
                    else "",
                    model=model_of[student.name],
                )
                parameters = evaluation.get("config", {}).get("parameters")
                if parameters:
                    entry["parameters"] = parameters
                if student.name in profiles and label == _label(
                    student.name, data.test_splits[0], data.test_splits
                ):
                    entry["profile"] = load_result(profiles[student.name])
            models.append(entry)
        from kdbench.report.references import reference_rows

        references = [
            r.to_dict() for split in data.test_splits for r in reference_rows(data.source, split)
        ]
        write_summary(profile, profile_path, models, references)

    all_names = [s.name for s in stages]
    stages.append(
        Stage(
            "report",
            "results.json, report.md and report.html from the stage results",
            {"labels": sorted(evaluations), "profiles": sorted(profiles)},
            summary_outputs,
            summarise,
            depends_on=all_names,
        )
    )
    return stages


def _teacher_train_stage(profile: ProfileFile, source: str, triples: str, folder: Path) -> Stage:
    teacher = profile.teacher

    def action() -> None:
        from kdbench.train import TrainConfig, train

        config = TrainConfig(
            model=teacher.model,
            output=str(folder),
            arch=teacher.arch,
            loss=teacher.loss,
            steps=teacher.steps or 100,
            layers=teacher.layers or None,
            data=source,
            split=profile.data.train_split,
            triples=triples or None,
            mine_depth=profile.data.mine_depth,
            triples_per_positive=profile.data.triples_per_positive,
            dev_queries=profile.data.dev_queries,
            batch_size=teacher.batch_size,
            learning_rate=teacher.learning_rate,
            seed=profile.experiment.seed,
            device="cpu" if "cuda" not in profile.profile.devices else "auto",
            resume=True,
        )
        result = train(config)
        if result.status == "interrupted":
            raise stop_exception(result.signal)

    config = {
        "teacher": stage_settings(teacher),
        "source": source,
        "triples": triples,
        "triples_digest": file_digest(triples) if triples else "",
        "seed": profile.experiment.seed,
        **_mining(profile),
    }
    return Stage(
        "teacher/train",
        f"train the {teacher.arch} teacher {teacher.model} ({teacher.loss})",
        config,
        [folder / "kdbench.json"],
        action,
    )


def _mining(profile: ProfileFile) -> dict[str, int]:
    """The mining settings for a stage config, left out at their defaults (stage_settings) so
    stages of profiles written before them keep their hashes."""
    settings = stage_settings(profile.data)
    return {
        name: settings[name] for name in ("triples_per_positive", "mine_depth") if name in settings
    }


def _score_action(
    profile: ProfileFile, model: str, source: str, triples: str, scores: Path
) -> Callable[[], None]:
    """Score the training triples with `model`, mining them exactly as the students' trainings do."""

    def action() -> None:
        from kdbench.train import TeacherConfig, score_teacher

        score_teacher(
            TeacherConfig(
                model=model,
                output=str(scores),
                data=source,
                split=profile.data.train_split,
                triples=triples or None,
                mine_depth=profile.data.mine_depth,
                triples_per_positive=profile.data.triples_per_positive,
                dev_queries=profile.data.dev_queries,
                seed=profile.experiment.seed,
            )
        )

    return action


def _teacher_score_stage(
    profile: ProfileFile, source: str, triples: str, folder: Path, scores: Path
) -> Stage:
    return Stage(
        "teacher/score",
        "score the training triples with the teacher",
        {"source": source, "triples": triples, **_mining(profile)},
        [scores],
        _score_action(profile, str(folder), source, triples, scores),
        depends_on=["teacher/train"],
    )


def _student_score_stage(
    profile: ProfileFile, name: str, model: str, source: str, triples: str, scores: Path
) -> Stage:
    """A trained student's scores on the training triples, for the students it teaches."""
    return Stage(
        f"teacher/score/{name}",
        f"score the training triples with student {name} (a teacher of later students)",
        {
            "student": name,
            "model": model,
            "source": source,
            "triples": triples,
            "seed": profile.experiment.seed,
            "dev_queries": profile.data.dev_queries,
            "train_split": profile.data.train_split,
            **_mining(profile),
        },
        [scores],
        _score_action(profile, model, source, triples, scores),
        depends_on=[f"train/{name}"],
    )


def _teacher_label(profile: ProfileFile, student: StudentConfig) -> str:
    """Whom a distilled student learns from, as the report names it."""
    if not student.teachers:
        return teacher_label(profile)
    names = [teacher_label(profile) if t == PROFILE_TEACHER else t for t in student.teachers]
    normalize = student.teacher_normalize or profile.teacher.normalize
    return " + ".join(names) + ("" if normalize == "none" else f" ({normalize})")


def _train_stage(
    profile: ProfileFile,
    student: StudentConfig,
    source: str,
    triples: str,
    teacher_scores: list[str],
    teacher_inputs: dict[str, str],
    folder: Path,
    upstream: list[str],
) -> Stage:
    normalize = student.teacher_normalize or profile.teacher.normalize

    def action() -> None:
        from kdbench.train import TrainConfig, train

        config = TrainConfig(
            model=student.model,
            output=str(folder),
            arch=student.arch,
            layers=student.layers or None,
            split_layer=student.split_layer or None,
            similarity=student.similarity or None,
            loss=student.loss,
            label_loss=student.label_loss or None,
            label_weight=student.label_weight,
            teacher_margin_floor=student.teacher_margin_floor,
            temperature=student.temperature,
            validate_every=student.validate_every,
            steps=student.steps,
            data=source,
            split=profile.data.train_split,
            triples=triples or None,
            teacher_scores=tuple(teacher_scores),
            teacher_normalize=normalize,
            mine_depth=profile.data.mine_depth,
            triples_per_positive=profile.data.triples_per_positive,
            negatives=student.negatives_per_query,
            dev_queries=profile.data.dev_queries,
            batch_size=student.batch_size,
            learning_rate=student.learning_rate,
            warmup_steps=student.warmup_steps or None,
            max_query_len=student.max_query_len,
            max_doc_len=student.max_doc_len,
            score_scale=student.score_scale or None,
            learn_score_scale=student.learn_score_scale,
            seed=profile.experiment.seed,
            device="cpu" if "cuda" not in profile.profile.devices else "auto",
            resume=True,
            extra={"study": profile.experiment.name, "student": student.name},
        )
        result = train(config)
        if result.status == "interrupted":
            raise stop_exception(result.signal)

    config = {
        "student": stage_settings(student),
        "source": source,
        "triples": triples,
        "triples_digest": file_digest(triples) if triples else "",
        "teacher": teacher_inputs,
        "normalize": normalize,
        "seed": profile.experiment.seed,
        "dev_queries": profile.data.dev_queries,
        "train_split": profile.data.train_split,
        **_mining(profile),
    }
    teacher = (
        f" from {', '.join(Path(s).name for s in teacher_scores)}"
        if teacher_scores
        else " (no teacher)"
    )
    return Stage(
        f"train/{student.name}",
        f"train {student.arch} {student.model} with {student.loss}{teacher}",
        config,
        [folder / "kdbench.json"],
        action,
        depends_on=upstream,
        inputs=[
            p
            for p in [*teacher_scores, triples]
            if p and not upstream and not names_dataset_part(p)
        ],
    )


def _evaluate_stage(
    profile: ProfileFile,
    label: str,
    model: str,
    student: StudentConfig | None,
    source: str,
    split: str,
    path: Path,
    upstream: list[str],
    *,
    is_teacher: bool = False,  # `model` is the teacher trained here (student is None)
) -> Stage:
    """Evaluate a student, the trained teacher, or (student None) the BM25 reference."""
    settings = profile.evaluate
    is_bm25 = student is None and not is_teacher
    if is_bm25:
        mode = "bm25"
    elif student is not None and student.eval_mode:
        mode = student.eval_mode
    else:
        mode = settings.mode
    arch = profile.teacher.arch if is_teacher else student.arch if student is not None else "bm25"
    # A checkpoint trained here carries its own architecture; a model used as it is needs it named.
    as_is = student is not None and not student.train
    first_run = profile.first_stage.run

    def action() -> None:
        from kdbench.evaluate.pipeline import EvaluateConfig, evaluate

        if mode == "retrieve" and arch != "dot":
            who = f"students.{student.name}" if student is not None else "evaluate.mode"
            raise UserError(f"{who}: eval_mode 'retrieve' needs arch 'dot' (got {arch})")
        config = EvaluateConfig(
            data=source,
            split=split,
            model="bm25" if is_bm25 else model,
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
        )
        result = evaluate(config)
        result["config"]["label"] = label
        save_result(path, result)

    config = {
        "label": label,
        "model": model,
        "mode": mode,
        "split": split,
        "source": source,
        "evaluate": settings.__dict__,
        "first_stage": profile.first_stage.__dict__,
        "test_queries": profile.data.test_queries,
        "student": stage_settings(student) if student else None,
    }
    if is_teacher:
        config["teacher"] = stage_settings(profile.teacher)
    what = "BM25" if is_bm25 else f"{arch} {label} ({mode})"
    return Stage(
        f"evaluate/{label}",
        f"evaluate {what} on {split}",
        config,
        [path],
        action,
        depends_on=upstream,
        inputs=[first_run] if first_run and not names_dataset_part(first_run) else [],
    )


def _profile_stage(
    profile: ProfileFile,
    student: StudentConfig,
    model: str,
    source: str,
    path: Path,
    upstream: list[str],
) -> Stage:
    settings = profile.profile

    def action() -> None:
        from kdbench.profile import run_profile
        from kdbench.profile.config import ProfileConfig

        cells: list[dict[str, Any]] = []
        baseline_cells: list[dict[str, Any]] = []
        result: dict[str, Any] = {}
        for device in settings.devices:
            config = ProfileConfig(
                model=model,
                arch=None if student.train else student.arch,
                split_layer=None if student.train else student.split_layer or None,
                scenario=settings.scenarios[0] if settings.scenarios else None,
                backends=tuple((b, None) for b in settings.backends),
                precisions=tuple(settings.precisions),
                device=device,
                batch_sizes=tuple(settings.batch_sizes),
                seq_lens=tuple(settings.seq_lens),
                depths=(settings.depth,),
                index_size=settings.index_size,
                baseline_arch=settings.baseline_arch or None,
                data=source,
                split=profile.data.test_splits[0],
                threads=profile.experiment.threads or None,
                warmup=settings.warmup,
                min_samples=settings.min_samples,
                parity_queries=settings.parity_queries,
                parity_depth=settings.parity_depth,
                min_duration_s=settings.min_duration_s,
                max_duration_s=max(settings.min_duration_s * 10, 30.0),
                extra={"layers": student.layers} if not student.train and student.layers else {},
            )
            result = run_profile(config)
            cells.extend(result.get("results", []))
            baseline_cells.extend(result.get("baseline", {}).get("results", []))
        result["results"] = cells
        if "baseline" in result:  # every device's baseline cells, like the model's own
            result["baseline"]["results"] = baseline_cells
        result["config"]["label"] = student.name
        save_result(path, result)

    config = {
        "student": student.name,
        "model": model,
        "profile": stage_settings(settings),
        "source": source,
        "threads": profile.experiment.threads,
    }
    if student.split_layer and not student.train:
        config["split_layer"] = student.split_layer  # set only then: other profiles' hashes stay
    return Stage(
        f"profile/{student.name}",
        f"profile {student.arch} on {', '.join(settings.backends)} ({', '.join(settings.devices)})",
        config,
        [path],
        action,
        depends_on=upstream,
    )


def describe(stages: list[Stage]) -> str:
    return json.dumps(
        [{"name": s.name, "outputs": [str(p) for p in s.outputs]} for s in stages], indent=2
    )
