"""The report stage: results.json (kind "run"), report.md and report.html from the stage results."""

from __future__ import annotations

from pathlib import Path
from typing import NotRequired, TypedDict

from kdbench.config import ProfileFile
from kdbench.evaluate.result import EvaluateResult
from kdbench.experiment.engine import Stage
from kdbench.experiment.evaluation import Evaluated
from kdbench.experiment.inputs import Experiment
from kdbench.experiment.students import Models
from kdbench.experiment.teachers import teacher_folder, teachers_label
from kdbench.io import atomic_write_text
from kdbench.json_types import JsonObject, json_value
from kdbench.losses import teacher_losses
from kdbench.options import hashed_settings
from kdbench.report import View, add_decisions, report_rows
from kdbench.report.conclusion import conclusion
from kdbench.report.meta import ReportMeta
from kdbench.report.pairs import Pair, common_measures, pair_rows
from kdbench.report.references import reference_rows
from kdbench.report.render import to_html, to_markdown
from kdbench.report.rows import Row
from kdbench.report.scale import Scale, parse_count
from kdbench.results import load_result, new_result, save_result


class RunModel(TypedDict):
    """One entry of results.json's "models": a model's evaluation with what was evaluated."""

    label: str
    evaluate: JsonObject  # its evaluate result, as written
    arch: NotRequired[str]
    loss: NotRequired[str]  # "" for BM25; "zero-shot" or "another run's" when not trained here
    teacher: NotRequired[str]  # "" when not distilled
    model: NotRequired[str]  # the checkpoint or hub id evaluated
    parameters: NotRequired[int]
    profile: NotRequired[JsonObject]  # with the first test split's entry
    backend_evaluations: NotRequired[list[JsonObject]]  # through other backends


def summary_stage(
    experiment: Experiment,
    evaluated: list[Evaluated],
    profiles: dict[str, Path],
    models: Models,
    depends_on: list[str],
) -> Stage:
    out = experiment.out

    def summarise() -> None:

        data = experiment.profile.data
        rows = [_model_entry(experiment, e, profiles, models) for e in evaluated if not e.artifact]
        _add_backend_evaluations(rows, [e for e in evaluated if e.artifact])
        references = [
            r.to_dict() for split in data.test_splits for r in reference_rows(data.source, split)
        ]
        write_summary(experiment.profile, experiment.path, rows, references)

    decisions = hashed_settings(experiment.profile.report)  # {} at the defaults: hash as before
    return Stage(
        "report",
        "results.json, report.md and report.html from the stage results",
        {
            "labels": sorted(e.label + e.artifact for e in evaluated),
            "profiles": sorted(profiles),
            **_view_settings(experiment),
            **({"report": decisions} if decisions else {}),
        },
        [out / "results.json", out / "report.md", out / "report.html"],
        summarise,
        depends_on=depends_on,
    )


def _view_settings(experiment: Experiment) -> JsonObject:
    """The report's measures, in the stage's hash only when set (older reports stay done)."""
    measures = experiment.profile.evaluate.measures
    return {"measures": list(measures)} if measures else {}


def _add_backend_evaluations(models: list[RunModel], evaluated: list[Evaluated]) -> None:
    """Each evaluation through a backend, on the entry of the model it evaluated."""

    by_label = {model["label"]: model for model in models}
    for evaluation in evaluated:
        entry = by_label[evaluation.label]
        entry.setdefault("backend_evaluations", []).append(load_result(evaluation.path))


def _model_entry(
    experiment: Experiment, evaluated: Evaluated, profiles: dict[str, Path], models: Models
) -> RunModel:
    """One row of results.json's "models": the evaluation with what was evaluated."""

    profile = experiment.profile
    evaluation = load_result(evaluated.path)
    entry: RunModel = {"label": evaluated.label, "evaluate": evaluation}
    student = evaluated.student
    if evaluated.is_teacher:
        teacher = profile.teacher
        entry["arch"], entry["loss"] = teacher.arch, teacher.loss
        entry["teacher"], entry["model"] = "", str(teacher_folder(experiment))
        return entry
    if student is None:
        entry["arch"], entry["teacher"], entry["loss"] = "bm25", "", ""
        if evaluated.label in profiles and evaluated.split == profile.data.test_splits[0]:
            entry["profile"] = load_result(profiles[evaluated.label])
        return entry
    distilled = student.train and student.loss in teacher_losses()
    entry["arch"] = student.arch
    entry["loss"] = (
        student.loss
        if student.train
        else ("another run's" if student.quality_from else "zero-shot")
    )
    entry["teacher"] = teachers_label(profile, student) if distilled else ""
    entry["model"] = models.path[student.name]
    parameters = EvaluateResult.from_dict(evaluation).settings.parameters
    if parameters:
        entry["parameters"] = parameters
    # The profile goes with the first split's row.
    if student.name in profiles and evaluated.split == profile.data.test_splits[0]:
        entry["profile"] = load_result(profiles[student.name])
    return entry


def distillation_pairs(profile: ProfileFile, models: list[RunModel]) -> list[Pair]:
    """KD vs no-KD twins: trained students of the same model, architecture and layers, one with a teacher."""
    by_label = {m["label"]: m for m in models if m.get("evaluate")}
    distilling = teacher_losses()
    pairs = []
    students = [s for s in profile.students if s.train]
    for kd in students:
        if kd.loss not in distilling:
            continue
        for nokd in students:
            if nokd.loss in distilling or (nokd.model, nokd.arch, nokd.layers) != (
                kd.model,
                kd.arch,
                kd.layers,
            ):
                continue
            for label, model in by_label.items():
                if label == kd.name or label.startswith(f"{kd.name} ("):
                    twin = by_label.get(nokd.name + label[len(kd.name) :])
                    if twin is not None:
                        pairs.append(_pair(model["evaluate"], twin["evaluate"]))
    return pairs


def _pair(kd: JsonObject, nokd: JsonObject) -> Pair:
    """The pair over every measure both evaluations kept per query (the report picks)."""

    return pair_rows(kd, nokd, measures=common_measures(kd, nokd))


def write_summary(
    profile: ProfileFile,
    profile_path: Path,
    models: list[RunModel],
    references: list[JsonObject],
) -> JsonObject:
    """results.json (kind "run"), report.md and report.html from the stage results."""
    out = profile.output_dir
    result = new_result("run", {**profile.to_dict(), "profile_file": str(profile_path)})
    result["models"] = json_value(models)
    result["references"] = list(references)
    result["pairs"] = json_value(distillation_pairs(profile, models))
    save_result(out / "results.json", result)
    rows, meta = run_report(profile, result)
    atomic_write_text(out / "report.md", to_markdown(rows, meta))
    atomic_write_text(out / "report.html", to_html(rows, meta))
    return result


def run_report(profile: ProfileFile, result: JsonObject) -> tuple[list[Row], ReportMeta]:
    """The rows and meta of a run's report: its measures, its budget and its scale."""
    view = View(measures=tuple(profile.evaluate.measures) or None)
    rows, meta = report_rows([result], view)
    meta.title = profile.experiment.name
    meta.data = profile.data.source
    decide = profile.report
    scale = Scale(
        parse_count(decide.scale_to, "report.scale_to") if decide.scale_to else None,
        decide.queries_per_s or None,
    )
    add_decisions(rows, [result], meta, decide.budget or None, scale, where="report.budget")
    return rows, meta


def run_conclusion(profile: ProfileFile, result: JsonObject) -> list[str]:
    """What the run found (kdbench.report.conclusion), as `kdbench run` ends with it."""
    return conclusion(*run_report(profile, result))
