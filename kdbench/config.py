"""Experiment profiles (`profiles/*.toml`) as frozen dataclasses.

A profile is data, never code: it is parsed with `tomllib`, every key is checked against
the dataclass fields below, and a wrong key or type is a `UserError` that names the file,
the key path (`students[2].loss`) and what is expected.
"""

from __future__ import annotations

import dataclasses
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdbench.errors import UserError
from kdbench.evaluate.config import EvaluateConfig as EvaluateOptions
from kdbench.evaluate.metrics import parse_measures
from kdbench.losses import teacher_losses
from kdbench.models.registry import applies_to, check_options
from kdbench.options import (
    LEFT_OUT,
    THREADS_MAX,
    Fixed,
    Mining,
    ModelLoading,
    Timing,
    backend_variant_names,
    canonical_choice,
    check_range,
    device_names,
    names,
    option,
    precision_names,
    reuse,
)
from kdbench.profile.config import ProfileConfig as ProfileOptions
from kdbench.profile.registry import scenario_names
from kdbench.report.budget import parse_budget
from kdbench.report.scale import parse_count
from kdbench.train.config import TrainConfig

# In a student's `teachers` list: the profile's [teacher] table (any other entry names a student).
PROFILE_TEACHER = "teacher"
# ... or BM25 on the profile's collection (scored like any teacher: triples and dev slice).
BM25_TEACHER = "bm25"

# A TOML file has no null: where the CLI leaves an option out, a profile writes 0 or "" (or
# leaves the key out); see docs/profiles.md.


def _eval_modes() -> Fixed:
    return Fixed(("rerank", "retrieve"))


@dataclass(frozen=True)
class ExperimentConfig:
    name: str = option(help="The experiment's name: results go to results/<name>.")
    description: str = option("", help="One line for the report.")
    seed: int = reuse(Mining, "seed")
    output: str = option("", help="Results folder (default: results/<name>).")
    threads: int = option(
        0,
        help="torch/ORT intra-op threads (0: the library default).",
        minimum=0,
        maximum=THREADS_MAX,
    )


@dataclass(frozen=True)
class DataConfig:
    source: str = option(help="A BEIR folder, an MS MARCO folder or an ir_datasets id.")
    train_split: str = option("train", help="Split the training triples are mined from.")
    test_splits: list[str] = option(
        default_factory=lambda: ["test"], help="Splits every model is evaluated on."
    )
    test_queries: int = option(0, help="Evaluate on the first N test queries (0: all).", minimum=0)
    triples: str = option(
        "",
        help="Training triples: a text-triples TSV or id triples; empty = mined from "
        "train_split with BM25 negatives, or the teacher-score file's (qid, pid_pos, pid_neg).",
    )
    dev_queries: int = reuse(Mining, "dev_queries")
    # Teacher scoring mines with the same settings, so its triples are the students'.
    triples_per_positive: int = reuse(Mining, "triples_per_positive", hashed_default=LEFT_OUT)
    mine_depth: int = reuse(Mining, "mine_depth", hashed_default=LEFT_OUT)


@dataclass(frozen=True)
class FirstStageConfig:
    method: str = option("bm25", help="bm25 | run.", choices=lambda: Fixed(("bm25", "run")))
    depth: int = reuse(EvaluateOptions, "depth", help="Re-ranking depth.")
    k1: float = reuse(EvaluateOptions, "bm25_k1")
    b: float = reuse(EvaluateOptions, "bm25_b")
    run: str = option("", help="A TREC run file to re-rank instead of BM25.")


@dataclass(frozen=True)
class TeacherConfig:
    scores: list[str] = option(
        default_factory=list,
        help="Precomputed teacher scores (pos<TAB>neg<TAB>qid<TAB>pid_pos<TAB>pid_neg), "
        "averaged as an ensemble when several are given.",
    )
    normalize: str = reuse(
        TrainConfig, "teacher_normalize", help="Per-teacher normalisation before averaging."
    )
    model: str = option("", help="Or a teacher to train and score here (when scores is empty).")
    arch: str = reuse(ModelLoading, "arch", default="cat")
    loss: str = reuse(TrainConfig, "loss", default="ranknet")
    steps: int = reuse(
        TrainConfig, "steps", default=0, minimum=0, help="Optimizer steps (0: kdbench train's)."
    )
    layers: int = reuse(
        ModelLoading, "layers", default=0, minimum=0, help="Keep the first N layers (0: all)."
    )
    learning_rate: float = reuse(TrainConfig, "learning_rate", hashed_default=LEFT_OUT)
    batch_size: int = reuse(TrainConfig, "batch_size", hashed_default=LEFT_OUT)
    evaluate: bool = option(
        False,
        help="Also evaluate the trained teacher on the test splits, beside the students.",
        hashed_default=LEFT_OUT,
    )


@dataclass(frozen=True)
class StudentConfig:
    name: str = option(help="The student's row in the report; unique in the profile.")
    model: str = reuse(TrainConfig, "model")
    arch: str = reuse(ModelLoading, "arch", default=dataclasses.MISSING, help="{choices}.")
    loss: str = reuse(TrainConfig, "loss")
    layers: int = reuse(
        ModelLoading, "layers", default=0, minimum=0, help="Keep the first N layers (0: all)."
    )
    steps: int = reuse(TrainConfig, "steps")
    batch_size: int = reuse(TrainConfig, "batch_size")
    learning_rate: float = reuse(TrainConfig, "learning_rate")
    # Before it meant "no warm-up" on the command line only, 0 stood for "10%" here.
    warmup_steps: int | None = reuse(TrainConfig, "warmup_steps", hashed_default=0)
    max_query_len: int = reuse(TrainConfig, "max_query_len")
    max_doc_len: int = reuse(TrainConfig, "max_doc_len")
    score_scale: float = reuse(
        TrainConfig,
        "score_scale",
        default=0.0,
        above=None,
        minimum=0,
        help=lambda: (
            f"{applies_to('score_scale')} score multiplier (0: the architecture's default)."
        ),
    )
    eval_mode: str = option(
        "", help="rerank | retrieve; empty = [evaluate].mode.", choices=_eval_modes
    )
    negatives_per_query: int = reuse(TrainConfig, "negatives", aliases=("negatives",))
    train: bool = option(True, help="false: evaluate the model as it is (a zero-shot row).")
    quality_from: str = option(
        "",
        help="With train = false: an evaluate result (JSON) another run made, shown as this "
        "row's quality instead of evaluating here, and named in the row. For the teacher whose "
        "scores a profile distils from: its latency timed here on its architecture, its quality "
        "from the run that trained and scored it.",
        hashed_default=LEFT_OUT,
    )
    backends: list[str] = option(
        default_factory=list,
        help="The backends this student is profiled on ({choices}, or NAME:PRECISION); "
        "empty = [profile].backends.",
        choices=backend_variant_names,
        hashed_default=LEFT_OUT,
    )
    seq_lens: list[int] = option(
        default_factory=list,
        help="Tokens per timed input for this student (a cat's: query and passage together); "
        "empty = [profile].seq_lens.",
        minimum=1,
        hashed_default=LEFT_OUT,
    )
    learn_score_scale: bool = reuse(TrainConfig, "learn_score_scale", hashed_default=LEFT_OUT)
    similarity: str = reuse(ModelLoading, "similarity", default="", hashed_default=LEFT_OUT)
    split_layer: int = reuse(
        ModelLoading,
        "split_layer",
        default=0,
        minimum=0,
        hashed_default=LEFT_OUT,
        help=lambda: (
            f"{applies_to('split_layer')}: query and passage meet after this layer "
            "(0: the default, 3)."
        ),
    )
    teachers: list[str] = option(
        default_factory=list,
        help='Whom a distilled student learns from (see teacher_weights): "teacher" (the '
        '[teacher] table), "bm25", or a student trained earlier in this profile. Empty: [teacher].',
        hashed_default=LEFT_OUT,
    )
    teacher_normalize: str = reuse(
        TrainConfig,
        "teacher_normalize",
        default="",
        hashed_default=LEFT_OUT,
        help="Per teacher before averaging; empty = [teacher].normalize.",
    )
    teacher_weights: str = option(
        "",
        help='How several teachers combine: empty = their mean; "fit" = weights fitted on the '
        "dev slice for the best nDCG@10 (as `kdbench teacher ensemble`); or a comma list, one "
        "weight per teacher.",
        hashed_default=LEFT_OUT,
    )
    # Hybrid objective (kdbench.losses.objective): loss + label_weight * label_loss, teacher
    # margins below teacher_margin_floor raised to it; kl's temperature.
    label_loss: str = reuse(
        TrainConfig,
        "label_loss",
        default="",
        hashed_default=LEFT_OUT,
        help="Add a label term to a distillation loss: {choices}; empty = none.",
    )
    label_weight: float = reuse(TrainConfig, "label_weight", hashed_default=LEFT_OUT)
    teacher_margin_floor: float | None = reuse(
        TrainConfig, "teacher_margin_floor", hashed_default=LEFT_OUT
    )
    temperature: float = reuse(TrainConfig, "temperature", hashed_default=LEFT_OUT)
    validate_every: int = reuse(
        TrainConfig,
        "validate_every",
        hashed_default=LEFT_OUT,
        help="Validate on the dev slice every N steps; the best step is kept (0: at the end).",
    )

    def __post_init__(self) -> None:
        chosen = ("similarity", "learn_score_scale", "split_layer")
        check_options(self.arch, [key for key in chosen if getattr(self, key)])
        if self.quality_from and self.train:
            raise ValueError(
                "quality_from shows another run's evaluation of a model used as it is; set "
                "train = false (a model trained here is evaluated here)"
            )
        if not self.train and (self.similarity or self.learn_score_scale):
            # `kdbench evaluate` uses the model's own similarity; these only shape a training.
            raise ValueError("similarity and learn_score_scale apply to training; set train = true")
        distilling = teacher_losses()
        distils = self.train and self.loss in distilling
        if (self.label_loss or self.teacher_margin_floor is not None) and not distils:
            raise ValueError(
                "label_loss and teacher_margin_floor shape a distillation; use them with loss "
                f"{', '.join(distilling)} and train = true"
            )
        if self.temperature != 1.0 and self.loss != "kl":
            raise ValueError("temperature applies to loss 'kl'")
        if self.teacher_weights:
            if len(self.teachers) < 2:
                raise ValueError("teacher_weights combines several teachers; list 2 or more")
            if self.teacher_weights != "fit":
                weights = self.teacher_weight_list()
                if weights is None or len(weights) != len(self.teachers):
                    raise ValueError(
                        f'teacher_weights {self.teacher_weights!r}: write "fit" or one '
                        f'number per teacher ({len(self.teachers)}), e.g. "0.5,0.5"'
                    )
        if (self.teachers or self.teacher_normalize) and not (
            self.train and self.loss in distilling
        ):
            raise ValueError(
                f"teachers and teacher_normalize apply to students trained with {', '.join(distilling)}"
            )

    def teacher_weight_list(self) -> list[float] | None:
        """teacher_weights as numbers; None for "fit" (or a list that does not parse)."""
        try:
            values = [float(w) for w in self.teacher_weights.split(",") if w.strip()]
        except ValueError:
            return None
        if any(not 0 <= v < float("inf") for v in values):
            return None
        return values or None


@dataclass(frozen=True)
class EvaluateConfig:
    mode: str = option(
        "rerank", help="rerank | retrieve (full collection, dot only).", choices=_eval_modes
    )
    batch_size: int = reuse(EvaluateOptions, "batch_size")
    max_query_len: int = reuse(EvaluateOptions, "max_query_len", default=32, help="Query tokens.")
    max_doc_len: int = reuse(EvaluateOptions, "max_doc_len", default=256, help="Passage tokens.")
    rel: int = reuse(EvaluateOptions, "rel")
    references: list[str] = option(
        default_factory=lambda: ["bm25"], help="Reference rows evaluated beside the students."
    )
    measures: list[str] = option(
        default_factory=list,
        help='ir_measures strings, e.g. ["nDCG@10", "RR(rel=2)@10", "R@1000"]; empty: the '
        "defaults at rel. The report and the KD/no-KD pairs show these.",
        hashed_default=LEFT_OUT,
    )

    def __post_init__(self) -> None:
        if self.measures:
            try:
                parse_measures(" ".join(self.measures))
            except UserError as exc:
                raise ValueError(f"measures: {str(exc).removeprefix('--measure ')}") from None


@dataclass(frozen=True)
class ProfileConfig(Timing):
    backends: list[str] = option(
        default_factory=lambda: ["eager"],
        help="{choices}; NAME:PRECISION pins one (onnx:int8), else every `precisions` entry.",
        choices=backend_variant_names,
    )
    devices: list[str] = option(
        default_factory=lambda: ["cpu"], help="{choices}.", choices=device_names
    )
    precisions: list[str] = option(
        default_factory=lambda: ["fp32"], help="{choices}.", choices=precision_names
    )
    scenarios: list[str] = option(
        default_factory=list,
        help="{choices}; empty: the natural one per architecture.",
        choices=scenario_names,
    )
    batch_sizes: list[int] = option(default_factory=lambda: [1], help="Batch sizes.", minimum=1)
    seq_lens: list[int] = option(
        default_factory=lambda: [128], help="Tokens per timed input.", minimum=1
    )
    depth: int = option(100, help="rerank: candidates per query; query: hits searched.", minimum=1)
    # One size (hashed as it always was) or a list of sizes to time, each its own cells.
    index_size: int | list[int] | None = reuse(
        ProfileOptions, "index_size", hashed_default=LEFT_OUT
    )
    # Timing keys added after profiles had finished stages: out of stage hashes at their defaults.
    warmup_s: float = reuse(Timing, "warmup_s", hashed_default=LEFT_OUT)
    max_duration_s: float = reuse(Timing, "max_duration_s", hashed_default=LEFT_OUT)
    rounds: int = reuse(Timing, "rounds", hashed_default=LEFT_OUT)
    parity_queries: int = reuse(ProfileOptions, "parity_queries")
    parity_depth: int = reuse(ProfileOptions, "parity_depth")
    baseline_arch: str = reuse(ProfileOptions, "baseline_arch", default="", hashed_default=LEFT_OUT)
    # A server cell per dense row (docs/serving.md): its search's bound, backend and sizes.
    server_bound: str = option(
        "",
        help="Also serve each dot row under Poisson traffic and search its highest QPS within "
        "this bound, e.g. p99<=50ms (empty: no server cells).",
        hashed_default=LEFT_OUT,
    )
    server_backend: str = option(
        "onnx",
        help="The backend (NAME or NAME:PRECISION) the server cells run on.",
        choices=backend_variant_names,
        hashed_default=LEFT_OUT,
    )
    max_batch: int = reuse(ProfileOptions, "max_batch", hashed_default=LEFT_OUT)
    max_wait_ms: float = reuse(ProfileOptions, "max_wait_ms", hashed_default=LEFT_OUT)
    min_queries: int = reuse(ProfileOptions, "min_queries", hashed_default=LEFT_OUT)
    min_query_duration_s: float = reuse(
        ProfileOptions, "min_query_duration_s", hashed_default=LEFT_OUT
    )
    search_budget_s: float = reuse(ProfileOptions, "search_budget_s", hashed_default=LEFT_OUT)
    enabled: bool = option(True, help="false: time nothing.")

    def __post_init__(self) -> None:
        if self.server_bound:
            from kdbench.profile.serving import parse_bound

            parse_bound(self.server_bound, "profile.server_bound")


@dataclass(frozen=True)
class ReportConfig:
    """What report.md and report.html decide beside the table (`kdbench report`'s options)."""

    budget: str = option(
        "",
        help='Constraints to choose within, e.g. "p95<=10ms,memory<=2GiB" (empty: none).',
        hashed_default=LEFT_OUT,
    )
    scale_to: str = option(
        "", help="Predict at this many passages, e.g. 8.8M (empty: none).", hashed_default=LEFT_OUT
    )
    queries_per_s: float = option(
        0.0,
        help="Replicas to serve this many queries/s (0: none).",
        minimum=0,
        hashed_default=LEFT_OUT,
    )

    def __post_init__(self) -> None:

        if self.budget:
            parse_budget(self.budget, "report.budget")
        if self.scale_to:
            parse_count(self.scale_to, "report.scale_to")


@dataclass(frozen=True)
class ProfileFile:
    """A whole `profiles/NAME.toml`."""

    experiment: ExperimentConfig
    data: DataConfig
    students: list[StudentConfig]
    first_stage: FirstStageConfig = field(default_factory=FirstStageConfig)
    teacher: TeacherConfig = field(default_factory=TeacherConfig)
    evaluate: EvaluateConfig = field(default_factory=EvaluateConfig)
    profile: ProfileConfig = field(default_factory=ProfileConfig)
    report: ReportConfig = field(default_factory=ReportConfig)

    def __post_init__(self) -> None:
        names = [s.name for s in self.students]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"students: duplicate name(s) {', '.join(duplicates)}; give each student a unique name"
            )

    @property
    def output_dir(self) -> Path:
        return Path(self.experiment.output or f"results/{self.experiment.name}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return "a table"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, str(tp)
    )


def _convert(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        # `int | list[int]`: one value or a list of them, by what the file holds
        choices = [a for a in typing.get_args(tp) if a is not type(None)]
        lists = [a for a in choices if typing.get_origin(a) is list]
        scalars = [a for a in choices if a not in lists]
        if lists and (isinstance(value, list) or not scalars):
            return _convert(value, lists[0], where)
        try:
            return _convert(value, scalars[0], where)
        except UserError:
            if len(choices) == 1:
                raise
            expected = " or ".join(_type_name(a) for a in choices)
            raise UserError(f"{where}: expected {expected}, got {value!r}") from None
    if origin is list:
        (item_type,) = typing.get_args(tp)
        if not isinstance(value, list):
            raise UserError(f"{where}: expected {_type_name(tp)}, got {value!r}")
        return [_convert(item, item_type, f"{where}[{i}]") for i, item in enumerate(value)]
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise UserError(f"{where}: expected a table ([{where}]), got {value!r}")
        return _build(tp, value, where)  # type: ignore[arg-type]
    if tp is bool:
        if not isinstance(value, bool):
            raise UserError(f"{where}: expected true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise UserError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise UserError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a string, got {value!r}")
        return value
    raise TypeError(f"unsupported field type {tp!r} at {where}")


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    """`cls` from a TOML table: keys by field name or alias, values converted and checked."""
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for name, value in _by_field(cls, raw, where).items():
        f = next(f for f in dataclasses.fields(cls) if f.name == name)
        key_path = f"{where}.{name}" if where else name
        converted = canonical_choice(f, _convert(value, hints[name], key_path), key_path)
        check_range(f, converted, key_path)
        values[name] = converted
    for f in dataclasses.fields(cls):
        if f.name not in values and f.default is f.default_factory is dataclasses.MISSING:
            key_path = f"{where}.{f.name}" if where else f.name
            raise UserError(f"{key_path}: required key is missing")
    try:
        return cls(**values)
    except ValueError as exc:
        raise UserError(f"{where or 'profile'}: {exc}") from exc


def _by_field(cls: type, raw: dict[str, Any], where: str) -> dict[str, Any]:
    """The table's values by field name; an alias (`lr`) stands for its field (`learning_rate`)."""
    field_of_key = {key: f.name for f in dataclasses.fields(cls) for key in names(f)}
    prefix = f"{where}." if where else ""
    by_field: dict[str, Any] = {}
    key_of: dict[str, str] = {}
    for key, value in raw.items():
        if key not in field_of_key:
            valid = ", ".join(sorted(f.name for f in dataclasses.fields(cls)))
            raise UserError(f"{prefix}{key}: unknown key; valid keys here are {valid}")
        name = field_of_key[key]
        if name in by_field:
            raise UserError(f"{prefix}{key}: the same setting as {key_of[name]}; write it once")
        by_field[name], key_of[name] = value, key
    return by_field


def load_profile(path: str | Path) -> ProfileFile:
    """Parse and validate a profile; every error names the file and the key."""
    p = Path(path)
    try:
        profile: ProfileFile = _build(ProfileFile, _read_toml(p), "")
    except UserError as exc:
        raise UserError(f"{p}: {exc}") from exc
    if not profile.students:
        raise UserError(f"{p}: students: add at least one [[students]] table")
    for i in range(len(profile.students)):
        _check_teachers(profile, i, p)
    if profile.teacher.evaluate:
        names = [s.name for s in profile.students]
        if not profile.teacher.model or profile.teacher.scores:
            raise UserError(
                f"{p}: teacher.evaluate: only a teacher trained here can be evaluated; set "
                "[teacher].model and no [teacher].scores"
            )
        if PROFILE_TEACHER in names or PROFILE_TEACHER in profile.evaluate.references:
            raise UserError(
                f"{p}: teacher.evaluate: the teacher's row is labelled {PROFILE_TEACHER!r}, "
                "yet a student or reference has that name; rename it"
            )
    return profile


def _read_toml(p: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise UserError(f"{p}: no such profile; see profiles/ for examples") from exc
    except IsADirectoryError as exc:
        raise UserError(
            f"{p}: is a folder; pass a profile file such as profiles/quickstart.toml"
        ) from exc
    except OSError as exc:
        raise UserError(f"{p}: cannot read the profile ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{p}: not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"{p}: not UTF-8 text ({exc.reason})") from exc


def _check_teachers(profile: ProfileFile, i: int, p: Path) -> None:
    """Student i's teachers exist: the [teacher] table, or students trained before it."""
    student = profile.students[i]
    has_teacher = bool(profile.teacher.scores or profile.teacher.model)
    names = [s.name for s in profile.students]
    if (
        student.train
        and student.loss in teacher_losses()
        and (not student.teachers or PROFILE_TEACHER in student.teachers)
        and not has_teacher
    ):
        raise UserError(
            f"{p}: students[{i}].loss: {student.loss!r} needs a teacher; set [teacher].scores or [teacher].model"
        )
    for j, teacher in enumerate(student.teachers):
        where = f"{p}: students[{i}].teachers[{j}]"
        if teacher in student.teachers[:j]:
            raise UserError(f"{where}: {teacher!r} is listed twice; name each teacher once")
        if teacher in (PROFILE_TEACHER, BM25_TEACHER):
            if teacher in names:
                raise UserError(
                    f"{where}: {teacher!r} means the "
                    f"{'[teacher] table' if teacher == PROFILE_TEACHER else 'BM25 teacher'}, "
                    "yet a student has that name; rename the student"
                )
            continue
        if teacher not in names[:i]:
            # Stages run in profile order: the teacher student must be trained first.
            raise UserError(
                f"{where}: {teacher!r} is neither {PROFILE_TEACHER!r} (the [teacher] table), "
                f"{BM25_TEACHER!r} nor a student listed before this one"
            )
        if not profile.students[names.index(teacher)].train:
            raise UserError(
                f"{where}: student {teacher!r} has train = false; a student teacher must be "
                "trained by this profile"
            )
