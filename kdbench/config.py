"""Experiment profiles (`profiles/*.toml`) as frozen dataclasses.

A profile is data, never code: it is parsed with `tomllib`, every key is checked against
the dataclass fields below, and a wrong key or type is a `UserError` that names the file,
the key path (`students[2].loss`) and what is expected.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from kdbench.backends import BACKENDS as BACKEND_REGISTRY
from kdbench.backends import devices, precisions
from kdbench.errors import UserError
from kdbench.losses import LOSSES as LOSS_REGISTRY
from kdbench.losses import teacher_losses
from kdbench.models.registry import ARCHITECTURES
from kdbench.profile.registry import SCENARIOS as SCENARIO_REGISTRY

# Every name list comes from its registry (kdbench/registry.py), never written out here.
ARCHS = ARCHITECTURES.names()
LOSSES = LOSS_REGISTRY.names()
BACKENDS = BACKEND_REGISTRY.names()
DEVICES = devices()
PRECISIONS = precisions()
SCENARIOS = SCENARIO_REGISTRY.names()
TEACHER_LOSSES = teacher_losses()  # the losses that learn from teacher scores
# In a student's `teachers` list: the profile's [teacher] table (any other entry names a student).
PROFILE_TEACHER = "teacher"


@dataclass(frozen=True)
class ExperimentConfig:
    name: str
    description: str = ""
    seed: int = 42
    output: str = ""  # default: results/<name>
    threads: int = 0  # torch/ORT intra-op threads; 0 = library default


@dataclass(frozen=True)
class DataConfig:
    source: str  # a BEIR folder, an MS MARCO folder or an ir_datasets id
    train_split: str = "train"
    test_splits: list[str] = field(default_factory=lambda: ["test"])
    test_queries: int = 0  # evaluate on the first N test queries (0 = all)
    # Training triples: a text-triples TSV or id triples; empty = mined from `train_split` with BM25
    # negatives, or taken from the teacher-score file's (qid, pid_pos, pid_neg) when one is given.
    triples: str = ""
    dev_queries: int = 50  # train queries held out for validation (never the test split)
    # Mining (without `triples`): BM25 negatives from the top `mine_depth`, this many triples per
    # (query, positive). Teacher scoring mines with the same settings, so its triples are the students'.
    triples_per_positive: int = 8
    mine_depth: int = 50

    ADDED_LATER: ClassVar[frozenset[str]] = frozenset({"triples_per_positive", "mine_depth"})


@dataclass(frozen=True)
class FirstStageConfig:
    method: str = "bm25"
    depth: int = 100  # re-ranking depth
    k1: float = 0.9
    b: float = 0.4
    run: str = ""  # a TREC run file to re-rank instead of BM25


@dataclass(frozen=True)
class TeacherConfig:
    # Precomputed teacher scores (the paper's pos<TAB>neg<TAB>qid<TAB>pid_pos<TAB>pid_neg format),
    # averaged as an ensemble when several are given.
    scores: list[str] = field(default_factory=list)
    normalize: str = "none"  # per-teacher normalisation before averaging: none | zscore
    # Or a teacher to train/score here (used when `scores` is empty).
    model: str = ""
    arch: str = "cat"
    loss: str = "ranknet"
    steps: int = 0
    layers: int = 0
    learning_rate: float = 2e-5
    batch_size: int = 16
    # Also evaluate the trained teacher on the test splits, beside the students.
    evaluate: bool = False

    # Added after profiles had finished stages: kept out of stage hashes while at their defaults.
    ADDED_LATER: ClassVar[frozenset[str]] = frozenset({"learning_rate", "batch_size", "evaluate"})


@dataclass(frozen=True)
class StudentConfig:
    name: str
    model: str
    arch: str
    loss: str = "margin-mse"
    layers: int = 0  # 0 = all layers
    steps: int = 100
    batch_size: int = 16
    learning_rate: float = 2e-5
    warmup_steps: int = 0
    max_query_len: int = 32
    max_doc_len: int = 128
    score_scale: float = 0.0  # 0 = the architecture's default
    eval_mode: str = ""  # rerank | retrieve; empty = [evaluate].mode
    negatives_per_query: int = 1
    train: bool = True  # False: evaluate the model as it is (zero-shot row)
    # dot/colbert: learn a multiplier on the scores, so the margins can reach the teacher's.
    learn_score_scale: bool = False
    similarity: str = ""  # dot/colbert: dot | cosine; empty = the model's
    split_layer: int = 0  # prettr: query and passage meet after this layer; 0 = the default (3)
    # Whom a distilled student learns from, averaged when several: "teacher" (the [teacher] table)
    # or the name of a student trained earlier in this profile. Empty = the [teacher] table.
    teachers: list[str] = field(default_factory=list)
    teacher_normalize: str = ""  # per teacher before averaging; empty = [teacher].normalize
    # Hybrid objective (see kdbench.losses.objective): loss + label_weight * label_loss, teacher
    # margins below teacher_margin_floor raised to it; kl's temperature.
    label_loss: str = ""  # ranknet | ce; empty = none
    label_weight: float = 1.0
    teacher_margin_floor: float | None = None
    temperature: float = 1.0
    validate_every: int = 0  # validate on the dev slice every N steps; the best step is kept

    ADDED_LATER: ClassVar[frozenset[str]] = frozenset(
        {
            "learn_score_scale",
            "similarity",
            "split_layer",
            "teachers",
            "teacher_normalize",
            "label_loss",
            "label_weight",
            "teacher_margin_floor",
            "temperature",
            "validate_every",
        }
    )

    def __post_init__(self) -> None:
        if self.similarity and self.arch not in ("dot", "colbert"):
            raise ValueError(f"similarity applies to dot and colbert students, not {self.arch}")
        if self.learn_score_scale and self.arch not in ("dot", "colbert"):
            raise ValueError(
                f"learn_score_scale applies to dot and colbert students (a {self.arch} head sets its own scale)"
            )
        if self.split_layer and self.arch != "prettr":
            raise ValueError(f"split_layer applies to prettr students, not {self.arch}")
        if not self.train and (self.similarity or self.learn_score_scale):
            # `kdbench evaluate` uses the model's own similarity; these only shape a training.
            raise ValueError("similarity and learn_score_scale apply to training; set train = true")
        distils = self.train and self.loss in TEACHER_LOSSES
        if (self.label_loss or self.teacher_margin_floor is not None) and not distils:
            raise ValueError(
                "label_loss and teacher_margin_floor shape a distillation; use them with loss "
                f"{', '.join(TEACHER_LOSSES)} and train = true"
            )
        if self.temperature != 1.0 and self.loss != "kl":
            raise ValueError("temperature applies to loss 'kl'")
        if (self.teachers or self.teacher_normalize) and not (
            self.train and self.loss in TEACHER_LOSSES
        ):
            raise ValueError(
                f"teachers and teacher_normalize apply to students trained with {', '.join(TEACHER_LOSSES)}"
            )


@dataclass(frozen=True)
class EvaluateConfig:
    mode: str = "rerank"  # rerank | retrieve (full collection, dot only)
    batch_size: int = 32
    max_query_len: int = 32
    max_doc_len: int = 256
    rel: int = 1
    references: list[str] = field(default_factory=lambda: ["bm25"])


@dataclass(frozen=True)
class ProfileConfig:
    backends: list[str] = field(default_factory=lambda: ["eager"])
    devices: list[str] = field(default_factory=lambda: ["cpu"])
    precisions: list[str] = field(default_factory=lambda: ["fp32"])
    scenarios: list[str] = field(default_factory=list)  # empty: the natural one per architecture
    batch_sizes: list[int] = field(default_factory=lambda: [1])
    seq_lens: list[int] = field(default_factory=lambda: [128])
    depth: int = 100
    index_size: int | None = None  # query scenario: passages in the searched index (None: all)
    min_samples: int = 20
    min_duration_s: float = 1.0
    warmup: int = 3
    parity_queries: int = 20  # real queries whose scores are checked against eager before timing
    parity_depth: int = 100  # candidates per parity query
    # Also time each student's weights built as this architecture, interleaved with it (e.g. a
    # prettr student against the same weights as cat): rows "NAME as cat (baseline)" in the report.
    baseline_arch: str = ""
    enabled: bool = True

    ADDED_LATER: ClassVar[frozenset[str]] = frozenset({"index_size", "baseline_arch"})


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


# Allowed values per key, checked after type conversion.
_CHOICES: dict[str, tuple[str, ...]] = {
    "arch": ARCHS,
    "loss": LOSSES,
    "backends": BACKENDS,
    "devices": DEVICES,
    "precisions": PRECISIONS,
    "scenarios": SCENARIOS,
    "mode": ("rerank", "retrieve"),
    "eval_mode": ("", "rerank", "retrieve"),
    "method": ("bm25", "run"),
    "normalize": ("none", "zscore", "minmax", "query-zscore"),
    "teacher_normalize": ("", "none", "zscore", "minmax", "query-zscore"),
    "label_loss": ("", "ranknet", "ce"),
    "similarity": ("", "dot", "cosine"),
    "baseline_arch": ("", *ARCHS),
}
_POSITIVE = {
    "parity_queries",
    "parity_depth",
    "index_size",
    "steps",
    "batch_size",
    "depth",
    "min_samples",
    "max_query_len",
    "max_doc_len",
    "batch_sizes",
    "seq_lens",
    "negatives_per_query",
    "learning_rate",
    "triples_per_positive",
    "mine_depth",
}
_NON_NEGATIVE = {
    "dev_queries",
    "layers",
    "warmup_steps",
    "test_queries",
    "threads",
    "warmup",
    "rel",
    "split_layer",
    "validate_every",
    "label_weight",
}
# Keys where 0 means "not set" even though they are otherwise positive.
_ZERO_ALLOWED = {("teacher", "steps")}


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
        return _convert(value, next(a for a in typing.get_args(tp) if a is not type(None)), where)
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


def _check_value(section: str, key: str, value: Any, where: str) -> None:
    items = value if isinstance(value, list) else [value]
    if key in _CHOICES:
        for item in items:
            if item not in _CHOICES[key]:
                raise UserError(
                    f"{where}: unknown value {item!r}; choose one of {', '.join(_CHOICES[key])}"
                )
    if key in _POSITIVE and (section, key) not in _ZERO_ALLOWED:
        for item in items:
            if item <= 0:
                raise UserError(f"{where}: must be positive, got {item}")
    if key in _NON_NEGATIVE or (section, key) in _ZERO_ALLOWED:
        for item in items:
            if item < 0:
                raise UserError(f"{where}: must be zero or positive, got {item}")


def _build(cls: type, raw: dict[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    section = where.split(".")[-1].split("[")[0]
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        prefix = f"{where}." if where else ""
        raise UserError(
            f"{prefix}{unknown[0]}: unknown key; valid keys here are {', '.join(sorted(fields))}"
        )
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key_path = f"{where}.{name}" if where else name
        if name not in raw:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise UserError(f"{key_path}: required key is missing")
            continue
        values[name] = _convert(raw[name], hints[name], key_path)
        _check_value(section, name, values[name], key_path)
    try:
        return cls(**values)
    except ValueError as exc:
        raise UserError(f"{where or 'profile'}: {exc}") from exc


def load_profile(path: str | Path) -> ProfileFile:
    """Parse and validate a profile; every error names the file and the key."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
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
    try:
        profile: ProfileFile = _build(ProfileFile, raw, "")
    except UserError as exc:
        raise UserError(f"{p}: {exc}") from exc
    if not profile.students:
        raise UserError(f"{p}: students: add at least one [[students]] table")
    has_teacher = bool(profile.teacher.scores or profile.teacher.model)
    names = [s.name for s in profile.students]
    for i, student in enumerate(profile.students):
        if (
            student.train
            and student.loss in TEACHER_LOSSES
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
            if teacher == PROFILE_TEACHER:
                if PROFILE_TEACHER in names:
                    raise UserError(
                        f"{where}: {teacher!r} means the [teacher] table, yet a student has that name; "
                        "rename the student"
                    )
                continue
            if teacher not in names[:i]:
                # Stages run in profile order: the teacher student must be trained first.
                raise UserError(
                    f"{where}: {teacher!r} is neither {PROFILE_TEACHER!r} (the [teacher] table) nor "
                    "a student listed before this one"
                )
            if not profile.students[names.index(teacher)].train:
                raise UserError(
                    f"{where}: student {teacher!r} has train = false; a student teacher must be "
                    "trained by this profile"
                )
    if profile.teacher.evaluate:
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


def stage_settings(section: Any) -> dict[str, Any]:
    """A profile section's settings as they enter a stage's config hash.

    A key the section lists in ADDED_LATER is left out while at its default, so adding a
    setting to the profile format does not rerun the finished stages of existing profiles.
    """
    later: frozenset[str] = getattr(section, "ADDED_LATER", frozenset())
    defaults = {f.name: f for f in dataclasses.fields(section)}
    settings = {}
    for name, value in vars(section).items():
        if name in later:
            f = defaults[name]
            default = (
                f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
            )
            if value == default:
                continue
        settings[name] = value
    return settings


def config_hash(data: Any) -> str:
    """A stable short hash of a JSON-serialisable config, to tell when a stage must rerun."""
    text = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]
