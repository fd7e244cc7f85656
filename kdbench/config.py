"""Experiment profiles (`profiles/*.toml`) as frozen dataclasses.

A profile is data, never code: it is parsed with `tomllib`, every key is checked against
the dataclass fields below, and a wrong key or type is a `UserError` that names the file,
the key path (`students[2].loss`) and what is expected.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from kdbench.errors import UserError
from kdbench.evaluate.config import EvaluateConfig as EvaluateOptions
from kdbench.evaluate.metrics import parse_measures
from kdbench.losses import teacher_losses
from kdbench.models.registry import ARCHITECTURES, applies_to, check_options
from kdbench.options import (
    LEFT_OUT,
    RANGE_KEYS,
    THREADS_MAX,
    Fixed,
    Mining,
    ModelLoading,
    backend_variant_names,
    canonical_choice,
    check_range,
    default_of,
    flag_name,
    help_text,
    names,
    option,
    range_text,
    reuse,
)
from kdbench.profile.config import ProfileConfig as ProfileOptions
from kdbench.profile.config import check_read
from kdbench.profile.registry import LOADS
from kdbench.quantities import parse_rate_per_s, parse_size
from kdbench.report.budget import parse_budget
from kdbench.report.scale import parse_count
from kdbench.train.config import TrainConfig

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    class SweptSettings(DataclassInstance, Protocol):
        """What `profile_runs` reads of a [profile] section (`ProfileSection`): its fields,
        and the lists swept (see SWEPT)."""

        @property
        def devices(self) -> tuple[str, ...]: ...

        @property
        def scenarios(self) -> tuple[str, ...]: ...


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

    def __post_init__(self) -> None:
        if not self.name.strip():  # results/<name> would be results/ itself
            raise ValueError("name is empty; write the experiment's name, e.g. scifact-L2")


def check_file_name(value: str, key: str) -> None:
    """`value` names result files (a student's stage files, evaluate/<name>__<split>.json):
    a separator or `..` would write outside them, an empty name would write nowhere in
    particular; a ValueError (the profile loader names the table) says what to write.

    >>> check_file_name("dot-L2-margin-mse", "name")
    >>> check_file_name("../../escape", "name")
    Traceback (most recent call last):
    ValueError: name '../../escape': write a name without / or \\ and other than . or .. (it names the result files), e.g. dot-L2
    """
    if (
        not value.strip()
        or value.strip() in (".", "..")
        or any(char in value for char in "/\\")
        or not value.isprintable()
    ):
        raise ValueError(
            f"{key} {value!r}: write a name without / or \\ and other than . or .. (it names "
            "the result files), e.g. dot-L2"
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
class TeacherSection:
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


# What a student used as it is (train = false) reads; its other settings shape a training.
AS_IS_SETTINGS = (
    "name",
    "model",
    "arch",
    "layers",
    "split_layer",
    "train",
    "eval_mode",
    "quality_from",
    "backends",
    "seq_lens",
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

    def training_settings_set(self) -> list[str]:
        """The settings set away from their defaults that only a training reads."""
        return [
            f.name
            for f in dataclasses.fields(self)
            if f.name not in AS_IS_SETTINGS and getattr(self, f.name) != default_of(f)
        ]

    def __post_init__(self) -> None:
        check_file_name(self.name, "name")
        if not self.model.strip():
            raise ValueError(
                "model is empty; write a model folder, a kdbench checkpoint or a hub id"
            )
        chosen = ("similarity", "learn_score_scale", "split_layer")
        check_options(self.arch, [key for key in chosen if getattr(self, key)])
        if self.quality_from and self.train:
            raise ValueError(
                "quality_from shows another run's evaluation of a model used as it is; set "
                "train = false (a model trained here is evaluated here)"
            )
        trained_only = self.training_settings_set() if not self.train else []
        if trained_only:
            # A model used as it is is evaluated with [evaluate]'s settings and its own
            # similarity; these only shape a training, which train = false skips.
            raise ValueError(
                f"{', '.join(trained_only)}: shape{'s' if len(trained_only) == 1 else ''} a "
                "training, and train = false uses the model as it is (evaluated with "
                "[evaluate]'s settings); drop "
                f"{'it' if len(trained_only) == 1 else 'them'} or set train = true"
            )
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
class EvaluateSection:
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


# [profile] is `kdbench profile`'s own settings (`kdbench profile`: profile/config.py), field
# for field: the same names, aliases, defaults, bounds and help. Left out are the settings the
# experiment supplies per student ([data], [first_stage], [experiment].threads, the student's
# model and architecture) and those only a command line sets (hidden ones); a setting added to
# `kdbench profile` is a [profile] key without an edit here.
FROM_EXPERIMENT = (
    *(f.name for f in dataclasses.fields(ModelLoading) if f.name != "device"),
    "model",
    "data",
    "split",
    "threads",
    "onnx_model",
    "bm25_k1",
    "bm25_b",
)
# One value per `kdbench profile` run, a list here: each value is its own run, as if the
# command had been run once per value (every combination of the two).
SWEPT = {"device": "devices", "scenario": "scenarios"}
# The table's own settings: whether to time, and a server cell added to each dense row
# (docs/serving.md), beside the runs above.
PROFILE_ONLY = ("enabled", "server_bound", "server_backend")


def _profile_fields(options: type) -> list[tuple[str, Any, Any]]:
    """The [profile] section's fields, from `kdbench profile`'s (see FROM_EXPERIMENT, SWEPT)."""
    hints = typing.get_type_hints(options)
    fields: list[tuple[str, Any, Any]] = []
    for f in dataclasses.fields(options):
        if f.name in FROM_EXPERIMENT or f.metadata.get("cli", {}).get("hidden"):
            continue
        if f.name in SWEPT:
            default = default_of(f)
            metadata = {
                **f.metadata,
                "aliases": (f.name, *f.metadata.get("aliases", ())),
                "help": _swept_help(f),
            }
            listed: tuple[Any, ...] = () if default is None else (default,)
            spec = dataclasses.field(default=listed, metadata=metadata)
            fields.append((SWEPT[f.name], tuple[str, ...], spec))
            continue
        spec = dataclasses.field(
            default=f.default, default_factory=f.default_factory, metadata=f.metadata
        )
        fields.append((f.name, hints[f.name], spec))
    fields.append(("enabled", bool, option(True, help="false: time nothing.")))
    fields.append(
        (
            "server_bound",
            str,
            option(
                "",
                help="Also serve each dot row under Poisson traffic and search its highest QPS "
                "within this bound, e.g. p99<=50ms (empty: no server cells).",
            ),
        )
    )
    fields.append(
        (
            "server_backend",
            str,
            option(
                "onnx",
                help="The backend (NAME or NAME:PRECISION) the server cells run on.",
                choices=backend_variant_names,
            ),
        )
    )
    return fields


def _swept_help(f: dataclasses.Field[Any]) -> Callable[[], str]:
    return lambda: (
        f"A list of `kdbench profile {flag_name(f)}` values, each timed as its own run: "
        f"{help_text(f)}"
    )


def _check_profile_settings(settings: Any) -> None:
    """Every run the section asks for passes `kdbench profile`'s own checks."""
    for run in profile_runs(settings, model="[profile]"):
        del run
    if settings.server_bound:
        from kdbench.profile.serving import parse_bound

        parse_bound(settings.server_bound, "profile.server_bound")


def profile_runs(settings: SweptSettings, **per_run: object) -> list[ProfileOptions]:
    """The `kdbench profile` runs a [profile] section asks for (every device x scenario), each
    with `per_run` (the model, its data, ...): what `run_profile` times, one run at a time."""
    common = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name not in (*SWEPT.values(), *PROFILE_ONLY)
    }
    scenarios = settings.scenarios or (None,)
    runs = []
    for device in settings.devices:
        for scenario in scenarios:
            try:
                runs.append(
                    ProfileOptions(**{**common, **per_run, "device": device, "scenario": scenario})
                )
            except UserError as exc:
                raise UserError(f"profile: {exc}") from None
    return runs


def profile_section(options: type = ProfileOptions) -> type:
    """The [profile] table's dataclass, field for field from `options` (`kdbench profile`'s)."""
    return dataclasses.make_dataclass(
        "ProfileSection",
        _profile_fields(options),
        frozen=True,
        kw_only=True,
        namespace={
            "__doc__": "The [profile] section: `kdbench profile`'s settings, device and scenario "
            "as lists.",
            "__post_init__": _check_profile_settings,
            "__module__": __name__,
        },
    )


if TYPE_CHECKING:  # generated at import from `kdbench profile`'s fields, so typed loosely
    ProfileSection = Any
else:
    ProfileSection = profile_section()


def _size_as_written(text: str) -> str:
    """A size checked by the quantity grammar, kept as written (`8.8M`): a stage hash holds
    the text, and `8800000` in a profile is the same size as "8800000"."""
    parse_size(text)
    return text


@dataclass(frozen=True)
class ReportConfig:
    """What report.md and report.html decide beside the table: `kdbench report`'s --budget,
    --scale-to and --queries-per-s (the command takes its help from these fields; TOML has no
    null, so "" and 0 here are the options left out)."""

    budget: str = option(
        "",
        help='Constraints on measured columns, e.g. "p95<=10ms,memory<=2GiB": the report names '
        "the best-quality row inside all of them, the runner-up, and what excludes each better "
        "or faster row (columns: p50, p95, memory, weights, activations, index, process, "
        "throughput, params, or a quality such as nDCG@10). Empty: none.",
        hashed_default=LEFT_OUT,
    )
    scale_to: str = option(
        "",
        help="Predict at this many passages (8.8M, 500k, 8800000): latency from the profile's "
        "growth fits (kdbench profile --index-size 1000,5000), index bytes per precision, "
        "memory, build time; every predicted column says so and names its fit. Empty: none.",
        hashed_default=LEFT_OUT,
        cli={"parse": _size_as_written},
    )
    queries_per_s: float = option(
        0.0,
        help="Replicas each row needs to serve this many queries per second (100, 100/s, "
        "6000/min; at --scale-to when given). In a profile, 0: none.",
        minimum=0,
        hashed_default=LEFT_OUT,
        cli={"parse": parse_rate_per_s},
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
    teacher: TeacherSection = field(default_factory=TeacherSection)
    evaluate: EvaluateSection = field(default_factory=EvaluateSection)
    profile: ProfileSection = field(default_factory=ProfileSection)
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

    def to_dict(self) -> dict[str, object]:
        """The profile as plain values (tuples stay tuples; JSON writes them as lists)."""
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
        if value == "" and type(None) in typing.get_args(tp):
            return None  # TOML has no null: an empty string leaves the setting unset
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
    if origin is tuple:  # a list in the file; one value stands for a list of one
        item_type = typing.get_args(tp)[0]
        items = value if isinstance(value, list) else [value]
        return tuple(_convert(item, item_type, f"{where}[{i}]") for i, item in enumerate(items))
    if tp is Path:
        if not isinstance(value, str):
            raise UserError(f"{where}: expected a path (a string), got {value!r}")
        return Path(value)
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
        parse = f.metadata.get("cli", {}).get("parse")
        if parse is not None:  # read as the command line reads it (quantities, lists)
            canonical_choice(f, value, key_path)  # each name known, before it is read
            converted = _parsed_key(parse, value, hints[name], key_path)
        else:
            converted = canonical_choice(f, _convert(value, hints[name], key_path), key_path)
            _each_once(converted, key_path)
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


def _each_once(value: object, where: str) -> None:
    """A list of names or numbers holds each once: `devices = ["cpu", "cpu"]` would time
    (and `test_splits`, `scores` would count) the same thing twice, as rows that look alike.

    >>> _each_once(["cpu", "cuda"], "profile.devices")
    >>> _each_once(["test", "dev", "test"], "data.test_splits")
    Traceback (most recent call last):
    kdbench.errors.UserError: data.test_splits[2]: 'test' is listed twice (also [0]); list each once
    """
    if not isinstance(value, list | tuple):
        return
    first: dict[object, int] = {}
    for i, item in enumerate(value):
        if not isinstance(item, str | int | float):
            return  # tables ([[students]]) are told apart by their names
        if item in first:
            raise UserError(
                f"{where}[{i}]: {item!r} is listed twice (also [{first[item]}]); list each once"
            )
        first[item] = i


def _parsed_key(parse: Callable[[str], Any], value: Any, tp: Any, where: str) -> Any:
    """A value the command line reads from text (`cli["parse"]`), read the same way: a
    number or string as that text, a list (where the setting takes several) item by item,
    each item as one command-line value (so `[100, 200]` is two sizes, never `100,200`)."""
    several = typing.get_origin(_without_none(tp)) is tuple
    if isinstance(value, list) and not several:
        raise UserError(f"{where}: expected one value, got a list {value!r}")
    items = value if isinstance(value, list) else [value]
    if not items:
        raise UserError(f"{where}: an empty list; leave the key out for the default")
    parsed: list[Any] = []
    for i, item in enumerate(items):
        at = f"{where}[{i}]" if isinstance(value, list) else where
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            raise UserError(f"{at}: expected a string or a number, got {item!r}")
        try:
            result = parse(str(item))
        except UserError as exc:
            raise UserError(f"{at}: {exc}") from None
        except ValueError as exc:  # a QuantityError: what is wrong and the accepted forms
            raise UserError(f"{at}: {exc}") from None
        if not several:
            return result
        parsed += [one for one in result if one not in parsed]
    return tuple(parsed)


def _without_none(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


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
    if profile.profile.enabled:
        try:
            check_read(profile.profile, profiled_scenarios(profile), lambda f: f"profile.{f.name}")
        except UserError as exc:
            raise UserError(f"{p}: {exc}") from None
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
    """The file's tables; a UserError says what is wrong (load_profile names the file)."""
    try:
        # utf-8-sig: a byte-order mark (Windows editors write one) is not part of the first key
        return tomllib.loads(p.read_text(encoding="utf-8-sig"))
    except FileNotFoundError as exc:
        raise UserError("no such profile; see profiles/ for examples") from exc
    except IsADirectoryError as exc:
        raise UserError(
            "is a folder; pass a profile file such as profiles/quickstart.toml"
        ) from exc
    except OSError as exc:
        raise UserError(f"cannot read the profile ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"not valid TOML ({exc})") from exc
    except UnicodeDecodeError as exc:
        raise UserError(f"not UTF-8 text ({exc.reason})") from exc


def profiled_scenarios(profile: ProfileFile) -> list[str]:
    """Every scenario some run of the profile times: [profile] scenarios (else each student's
    architecture's own; a load also serves it), a server cell's load and the query it serves,
    and BM25's retrieve (its row, when a reference or the first stage, reads the depths)."""
    settings = profile.profile
    own = [ARCHITECTURES[s.arch].default_scenario for s in profile.students]
    listed = list(settings.scenarios)
    scenarios = listed + (own if not listed or set(listed) & set(LOADS) else [])
    if settings.server_bound:
        scenarios += ["server", "query"]
    return list(dict.fromkeys([*scenarios, "retrieve"]))


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


def keys_markdown(section: type) -> str:
    """A profile section's keys as a Markdown table, from the fields (docs/settings.md holds
    the [profile] one; `tests/experiment/test_profile_section.py` checks it is current)."""
    lines = ["| key | also | default | range | help |", "|---|---|---|---|---|"]
    for f in dataclasses.fields(section):
        default = default_of(f)
        if f.name == "backends" and isinstance(default, tuple):  # (name, precision) pairs
            default = [f"{n}:{p}" if p else n for n, p in default]
        elif isinstance(default, tuple):
            default = list(default)
        bounds = {key: f.metadata.get(key) for key in RANGE_KEYS}
        also = ", ".join(f"`{alias}`" for alias in f.metadata.get("aliases", ()))
        cells = (
            f"`{f.name}`",
            also,
            "unset" if default is None else f"`{json.dumps(default)}`",
            range_text(bounds),
            help_text(f).replace("|", "\\|"),
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
