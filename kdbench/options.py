"""Settings declared once: a dataclass field carries its default, help text, names and checks.

`option(...)` declares a setting; the CLI (`kdbench.commands.options`) builds its typer options
and a profile (`kdbench.config`) reads its TOML keys from the same field, so both accept the
same names, the same values (registry aliases included) and the same defaults:

- names: the field name and its `aliases`; `--mine-depth` on the command line is
  `mine_depth` in a profile, and every alias works in both.
- `choices`: a function returning the registry (or tuple) the value must be in; it is called
  when a value is checked or help is shown, so a newly registered architecture is accepted
  and listed without editing this file. `{choices}` in the help text lists them.
- the range: `minimum`/`maximum` (inclusive), `above`/`below` (exclusive); a number must also
  be finite unless `finite=False` (NaN passes no comparison, so it is refused by name). None
  values mean "unset" and pass; lists are checked item by item. `check_range` is the one
  check and the one message (`WHERE: must be at least 1, got 0`), on the command line
  (a config's `__post_init__`) and in profiles (`kdbench.config`) alike.
- `hashed_default`: how stage hashes written before this setting existed (`LEFT_OUT`) or before
  its default changed (the old spelling) record its default; see `hashed_settings`.

Option groups several commands share are declared here too: `Mining`, `ModelLoading` and
`Timing`. A library config inherits the groups it uses (its fields stay flat, so result JSON
keeps its keys); `reuse` redeclares one field elsewhere with a different default.

>>> Mining().mine_depth, help_text(field_of(Mining, "mine_depth"))
(50, "Mine negatives from the first stage's top-k.")
>>> hashed_settings(Timing(warmup=3))["warmup"]
3
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, TypedDict, TypeGuard, TypeVar, overload

from kdbench.backends import BACKENDS, devices, precisions
from kdbench.data.teacher_scores import NORMALIZATIONS
from kdbench.errors import UserError
from kdbench.losses import (
    LOSSES,
    get_loss,
    teacher_losses,  # noqa: F401 (re-exported for the settings' checks)
)
from kdbench.models.registry import ARCHITECTURES, applies_to
from kdbench.quantities import parse_duration_s

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    from kdbench.json_types import JsonObject
    from kdbench.models.base import RankerModule

G = TypeVar("G")
V = TypeVar("V")  # a setting's value type: these functions take a field of any setting
# A choice setting's value: one name, none ("" or None: unset), or a list of names.
ChoiceValue = TypeVar("ChoiceValue", str, None, list[str], tuple[str, ...])

LEFT_OUT = "kdbench.options.LEFT_OUT"  # hashed_default: the key is absent while at its default
SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit
# A whole-number setting reaches C code (torch, numpy, ONNX Runtime) as a 32-bit int; past
# this it overflows there, after the work has started. A field may declare a lower maximum.
INT_MAX = 2**31 - 1
# More intra-op threads than any machine has cores only oversubscribes (and a huge count
# makes OpenMP abort).
THREADS_MAX = 1024


class CliSpec(TypedDict, total=False):
    """What only the command line needs of a setting (`option(cli=...)`)."""

    parse: Callable[[str], object]  # text -> value, for values typed as comma lists
    flag: str  # a click flag spelling such as "--fusion/--no-fusion"
    hidden: bool  # not a command-line option (a profile key only)
    path: bool  # a file or folder: typed empty it is refused (Path("") is the working folder)


# A duration option in seconds, read by the quantity grammar (5, 0.5s, 500ms, 2min).
SECONDS: CliSpec = {"parse": parse_duration_s}
# A file or folder (also an ir_datasets id or hub id): `kdbench.commands.options` refuses it
# typed empty, naming the option, instead of reading "" as "." (the working folder).
PATH: CliSpec = {"path": True}


class Choices(Protocol):
    """What a registry offers a setting: membership (aliases too) and the canonical name."""

    def __contains__(self, name: object) -> bool: ...

    def canonical(self, name: str) -> str: ...

    def names(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class Fixed:
    """A fixed list of values (no aliases) where no registry owns the concept."""

    values: tuple[str, ...]

    def __contains__(self, name: object) -> bool:
        return name in self.values

    def canonical(self, name: str) -> str:
        if name not in self.values:
            raise UserError(f"unknown value {name!r}; choose one of {', '.join(self.values)}")
        return name

    def names(self) -> list[str]:
        return list(self.values)


@overload
def option(
    default: V,
    *,
    help: str | Callable[[], str],
    aliases: tuple[str, ...] = (),
    short: str | None = None,
    choices: Callable[[], Choices] | None = None,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    finite: bool = True,
    hashed_default: object = dataclasses.MISSING,
    cli: CliSpec | None = None,
) -> V: ...


@overload
def option(
    *,
    help: str | Callable[[], str],
    default_factory: Callable[[], V],
    aliases: tuple[str, ...] = (),
    short: str | None = None,
    choices: Callable[[], Choices] | None = None,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    finite: bool = True,
    hashed_default: object = dataclasses.MISSING,
    cli: CliSpec | None = None,
) -> V: ...


@overload
def option(
    *,
    help: str | Callable[[], str],
    aliases: tuple[str, ...] = (),
    short: str | None = None,
    choices: Callable[[], Choices] | None = None,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    finite: bool = True,
    hashed_default: object = dataclasses.MISSING,
    cli: CliSpec | None = None,
) -> Any: ...  # a required setting: like `dataclasses.field()`, it stands for any type


def option(
    default: object = dataclasses.MISSING,
    *,
    help: str | Callable[[], str],
    default_factory: Callable[[], object] | None = None,
    aliases: tuple[str, ...] = (),
    short: str | None = None,
    choices: Callable[[], Choices] | None = None,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    finite: bool = True,
    hashed_default: object = dataclasses.MISSING,
    cli: CliSpec | None = None,
) -> object:
    """A dataclass field that declares one setting (see the module docstring): typed as its
    default (or its `default_factory`'s value), as `dataclasses.field` is.

    `help` may be a function (called when help is shown, like `choices`).
    `cli` holds what only the command line needs (`CliSpec`): "parse" (text -> value, for
    values typed as comma lists), "flag" (a click flag spelling such as
    "--fusion/--no-fusion"), "hidden".
    """
    metadata = {
        "help": help,
        "aliases": aliases,
        "short": short,
        "choices": choices,
        "minimum": minimum,
        "above": above,
        "maximum": maximum,
        "below": below,
        "finite": finite,
        "hashed_default": hashed_default,
        "cli": dict(cli or {}),
    }
    if default_factory is not None:
        if default is not dataclasses.MISSING:
            raise ValueError("cannot specify both default and default_factory")
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_of(cls: type[DataclassInstance], name: str) -> dataclasses.Field[object]:
    for f in dataclasses.fields(cls):
        if f.name == name:
            return f
    raise KeyError(f"{cls.__name__} has no setting {name!r}")


def reuse(cls: type[DataclassInstance], name: str, **changes: object) -> Any:
    """`cls`'s declaration of `name` again (help, names, checks), with `changes` applied.

    Typed Any as `dataclasses.field()` without a default is: the field it declares takes
    the type its annotation gives, which the name alone does not tell the type checker.

    For a setting that one config defaults differently (training fixes its lengths, the
    evaluation takes the model's) or that a profile section holds under the same name.
    """
    f = field_of(cls, name)
    metadata = {**f.metadata, **{k: v for k, v in changes.items() if k != "default"}}
    if changes.get("default") is dataclasses.MISSING:  # required where it is reused
        return dataclasses.field(metadata=metadata)
    # kw_only: a config's own required fields (model, output) may follow a reused one.
    if "default" in changes:
        return dataclasses.field(default=changes["default"], metadata=metadata, kw_only=True)
    if f.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=f.default_factory, metadata=metadata, kw_only=True)
    return dataclasses.field(default=f.default, metadata=metadata, kw_only=True)


def help_text(f: dataclasses.Field[V]) -> str:
    """The field's help (a function's answer, when help is one) with `{choices}` filled from
    its registry, as of now."""
    declared = f.metadata.get("help", "")
    text: str = declared() if callable(declared) else declared
    choices = f.metadata.get("choices")
    if choices is not None and "{choices}" in text:
        text = text.replace("{choices}", " | ".join(choices().names()))
    return text


def names(f: dataclasses.Field[V]) -> tuple[str, ...]:
    """Every name the setting answers to: the field's, then its aliases."""
    return (f.name, *f.metadata.get("aliases", ()))


def default_of(f: dataclasses.Field[V]) -> object:
    """The field's default (its factory's value), or `dataclasses.MISSING` for a required one."""
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def canonical_choice(f: dataclasses.Field[V], value: ChoiceValue, where: str) -> ChoiceValue:
    """`value` (or each item of a list) by its canonical name; a UserError naming `where`."""
    factory = f.metadata.get("choices")
    if factory is None or value is None or value == "":
        return value  # None / "": the setting is not set
    choices = factory()
    items = value if isinstance(value, list | tuple) else [value]
    for item in items:
        if item not in choices:
            raise UserError(
                f"{where}: unknown value {item!r}; choose one of {', '.join(choices.names())}"
            )
    canonical = [choices.canonical(item) for item in items]
    return type(value)(canonical) if isinstance(value, list | tuple) else canonical[0]


RANGE_KEYS = ("minimum", "above", "maximum", "below")


def out_of_range(
    value: float,
    *,
    minimum: float | None = None,
    above: float | None = None,
    maximum: float | None = None,
    below: float | None = None,
    finite: bool = True,
) -> str | None:
    """What is wrong with `value` against the bounds (None: nothing), as the one message.

    >>> out_of_range(0, minimum=1)
    'must be at least 1, got 0'
    >>> out_of_range(7.0, minimum=0, maximum=1)
    'must be between 0 and 1, got 7.0'
    >>> out_of_range(float("nan"), above=0)
    'must be a finite number above 0, got nan'
    """
    bounds = {"minimum": minimum, "above": above, "maximum": maximum, "below": below}
    allowed = range_text(bounds)
    if finite and not math.isfinite(value):
        return f"must be a finite number{' ' + allowed if allowed else ''}, got {value}"
    if math.isnan(value) or not (
        (minimum is None or value >= minimum)
        and (above is None or value > above)
        and (maximum is None or value <= maximum)
        and (below is None or value < below)
    ):
        return f"must be {allowed or 'a number'}, got {value}"
    return None


def range_text(bounds: Mapping[str, float | None]) -> str:
    """The allowed range in words: "at least 1", "between 0 and 1", "at least 0 and below 1"."""
    low, high = bounds.get("minimum"), bounds.get("maximum")
    if low is not None and high is not None:
        return f"between {_number(low)} and {_number(high)}"
    words = {"minimum": "at least", "above": "above", "maximum": "at most", "below": "below"}
    return " and ".join(
        f"{words[key]} {_number(bound)}"
        for key in RANGE_KEYS
        if (bound := bounds.get(key)) is not None
    )


def _number(bound: float) -> str:
    return str(int(bound)) if float(bound).is_integer() else f"{bound:g}"


def is_number(value: object) -> TypeGuard[int | float]:
    """An int or a float, not a bool (TOML and typer hand both)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def check_range(f: dataclasses.Field[V], value: object, where: str) -> None:
    """The field's declared range (and finiteness), on the value or each item of a list."""
    bounds = {key: f.metadata.get(key) for key in RANGE_KEYS}
    finite = f.metadata.get("finite", True)
    for item in value if isinstance(value, list | tuple) else [value]:
        if not is_number(item):
            continue  # None (unset), text, flags: nothing to bound
        problem = out_of_range(item, **bounds, finite=finite)
        if problem is None and isinstance(item, int) and abs(item) > INT_MAX:
            problem = f"is too large (whole numbers here reach {INT_MAX}), got {item}"
        if problem is not None:
            raise UserError(f"{where}: {problem}")


def check_ranges(
    settings: DataclassInstance, where: Callable[[dataclasses.Field[object]], str]
) -> None:
    """Every field's range, with errors named by `where(field)` (a flag or a key)."""
    for f in dataclasses.fields(settings):
        check_range(f, getattr(settings, f.name), where(f))


def flag_name(f: dataclasses.Field[V]) -> str:
    """How the command line spells a setting: `--mine-depth` (or its declared flag)."""
    flag = f.metadata.get("cli", {}).get("flag")
    return str(flag).split("/")[0] if flag else "--" + f.name.replace("_", "-")


def canonicalize(settings: DataclassInstance, *names: str) -> None:
    """Store the named choice settings of a frozen config by their canonical names.

    An unknown name is the registry's own UserError, prefixed with the option.
    """
    for name in names:
        value = getattr(settings, name)
        if not isinstance(value, str):
            continue
        f = field_of(type(settings), name)
        try:
            canonical = f.metadata["choices"]().canonical(value)
        except UserError as exc:
            raise UserError(f"{flag_name(f)}: {exc}") from None
        object.__setattr__(settings, name, canonical)


def hashed_settings(section: DataclassInstance, leave_out: Collection[str] = ()) -> JsonObject:
    """A section's settings as they enter a stage's config hash.

    The one mechanism that keeps finished stages of older profiles done: a field whose
    `hashed_default` is `LEFT_OUT` is left out while at its default (a setting added after
    stages had finished), one with another `hashed_default` enters at its default as that
    value (the spelling of the default before it changed). A set value equal to that old
    spelling is wrapped ({"set": value}), so it never passes for the default.
    """
    settings: JsonObject = {}
    for f in dataclasses.fields(section):
        if f.name in leave_out:
            continue
        value = getattr(section, f.name)
        old = f.metadata.get("hashed_default", dataclasses.MISSING)
        if old is dataclasses.MISSING:
            settings[f.name] = value
        elif value == default_of(f):
            if old != LEFT_OUT:
                settings[f.name] = old
        else:
            settings[f.name] = {"set": value} if value == old else value
    return settings


def group_of(group: type[G], settings: DataclassInstance) -> G:
    """The `group` part of a config that inherits it, as one object to pass on."""
    return group(**{f.name: getattr(settings, f.name) for f in dataclasses.fields(group)})  # type: ignore[arg-type]


def as_options(
    section: DataclassInstance, target: type[DataclassInstance], *, skip: Collection[str] = ()
) -> dict[str, Any]:
    """A profile section's settings as keywords of the library config `target` (Any: each
    goes to the `target` field of its name, whose type only `target` knows).

    Every setting `target` has under one of its names (an alias too: a student's
    `negatives_per_query` is `negatives`) is passed on. TOML has no null, so a section's
    "unset" default (0, "", false, none) stands for `target`'s default: `layers = 0` is the
    CLI's `--layers` left out, a teacher's `steps = 0` is `kdbench train`'s default.
    """
    fields_of_target = {f.name: f for f in dataclasses.fields(target)}
    keywords: dict[str, Any] = {}
    for f in dataclasses.fields(section):
        name = next((n for n in names(f) if n in fields_of_target), None)
        if name is None or name in skip:
            continue
        value = getattr(section, f.name)
        unset = not default_of(f) and value == default_of(f)
        keywords[name] = default_of(fields_of_target[name]) if unset else value
    return keywords


def group_values(group: type[DataclassInstance], settings: object) -> dict[str, Any]:
    """`group`'s fields of `settings` as keywords, to build another config that inherits it
    (Any: each goes to the field of its name in that config)."""
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(group)}


# Choice lists, each from the registry that owns the names (imported when first needed).


def architecture_names() -> Choices:

    return ARCHITECTURES


def backend_names() -> Choices:

    return BACKENDS


@dataclass(frozen=True)
class _BackendVariants:
    """Backends as `--backend` and profiles name them: NAME or NAME:PRECISION (onnx:int8),
    NAME by the backend registry (aliases too), PRECISION one some backend runs."""

    def _split(self, name: str) -> tuple[str, str]:
        backend, _, precision = name.partition(":")
        return backend.strip(), precision.strip().lower()

    def __contains__(self, name: object) -> bool:

        if not isinstance(name, str):
            return False
        backend, precision = self._split(name)
        return backend in BACKENDS and (not precision or precision in precisions())

    def canonical(self, name: str) -> str:

        backend, precision = self._split(name)
        canonical = BACKENDS.canonical(backend)
        return f"{canonical}:{precision}" if precision else canonical

    def names(self) -> list[str]:

        return list(BACKENDS.names())


def backend_variant_names() -> Choices:
    """`--backend` values: a backend, or a backend pinned to a precision (onnx:int8)."""
    return _BackendVariants()


@dataclass(frozen=True)
class _Losses:
    """The loss registry as `Choices` (aliases fold case, `_` and `-`, like `get_loss`);
    `teacher` keeps only the losses that do (True) or do not (False) learn from a teacher."""

    teacher: bool | None = None

    def __contains__(self, name: object) -> bool:

        if not isinstance(name, str):
            return False
        try:
            spec = get_loss(name)
        except UserError:
            return False
        return self.teacher is None or spec.needs_teacher == self.teacher

    def canonical(self, name: str) -> str:

        return get_loss(name).name

    def names(self) -> list[str]:

        return [n for n, s in LOSSES.items() if self.teacher in (None, s.needs_teacher)]


def loss_names() -> Choices:
    return _Losses()


def label_loss_names() -> Choices:
    """The losses that learn from labels alone (a hybrid objective's label term)."""
    return _Losses(teacher=False)


def precision_names() -> Choices:

    return Fixed(precisions())


def device_names() -> Choices:
    """Device kinds a profile times on (`cuda:N` is a cuda device)."""

    return Fixed(devices())


def normalization_names() -> Choices:

    return Fixed(NORMALIZATIONS)


def similarity_names() -> Choices:
    return Fixed(("dot", "cosine"))  # kdbench.models.base.SIMILARITIES, without importing torch


def pooling_names() -> Choices:
    return Fixed(("cls", "mean"))  # kdbench.models.base.POOLINGS, without importing torch


# Option groups.


@dataclass(frozen=True, kw_only=True)
class Mining:
    """How training triples are mined and the dev slice is held out (train and teacher alike)."""

    PANEL: ClassVar[str] = "Mining"

    mine_depth: int = option(50, help="Mine negatives from the first stage's top-k.", minimum=1)
    triples_per_positive: int = option(8, help="Mined triples per (query, positive).", minimum=1)
    negatives_run: str | None = option(
        None,
        help="TREC run over the train queries to mine negatives from instead of BM25.",
        cli=PATH,
    )
    dev_queries: int = option(
        50,
        help="Train queries held out for validation and the teacher's dev nDCG@10 (0: none); "
        "never trained on or scored.",
        minimum=0,
    )
    seed: int = option(
        42,
        help="Seed for mining and the dev slice (training: also data order, initialisation, "
        "dropout); a teacher and its students need the same.",
        minimum=0,
        maximum=SEED_MAX,
    )


@dataclass(frozen=True, kw_only=True)
class ModelLoading:
    """How a model is built from a name or folder (`kdbench.models.load_model`'s options)."""

    PANEL: ClassVar[str] = "Model loading"

    arch: str | None = option(
        None, help="{choices} (a checkpoint carries its own).", choices=architecture_names
    )
    layers: int | None = option(None, help="Keep the first N encoder layers.", minimum=1)
    split_layer: int | None = option(
        None,
        help=lambda: (
            f"{applies_to('split_layer')}: query and passage meet after layer l "
            "(default 3; a checkpoint carries its own)."
        ),
        minimum=1,
    )
    pooling: str | None = option(
        None,
        help=lambda: f"{applies_to('pooling')}: {{choices}} (default: the model's).",
        choices=pooling_names,
    )
    similarity: str | None = option(
        None,
        help=lambda: f"{applies_to('similarity')}: {{choices}} (default: the model's).",
        choices=similarity_names,
    )
    colbert_dim: int | None = option(
        None,
        help=lambda: f"{applies_to('colbert_dim')}: compress term vectors to this size.",
        minimum=1,
    )
    max_query_len: int | None = option(None, help="Query tokens (default: the model's).", minimum=1)
    max_doc_len: int | None = option(None, help="Passage tokens (default: the model's).", minimum=1)
    device: str = option("cpu", help="torch device: cpu, cuda, cuda:N.")
    allow_pickle: bool = option(
        False,
        help="Load pickled weights (pytorch_model.bin); unpickling can run code: trusted sources only.",
    )
    trust_remote_code: bool = option(
        False,
        help="Run a hub model's own Python code (needed by some architectures): trusted sources only.",
    )

    def load(self, name_or_path: str, *, device: str | None = None) -> RankerModule:
        """The ranker `name_or_path` built with these options (on `device`, when given)."""
        from kdbench.models.load import load_model

        options = group_values(ModelLoading, self)
        if device is not None:
            options["device"] = device
        return load_model(name_or_path, **options)


@dataclass(frozen=True, kw_only=True)
class Timing:
    """How long each profiled cell is warmed up and timed.

    The defaults back a p99 (662 samples, MLPerf's rule) over at least 5 s; a profile that
    wants a quick look says so (profiles/quickstart.toml: 64 samples, 2 s).
    """

    PANEL: ClassVar[str] = "Timing"

    warmup: int = option(5, help="Warm-up calls per cell (and at least --warmup-s).", minimum=0)
    warmup_s: float = option(
        0.5,
        help="Seconds of warm-up per cell, at least (a bare number is seconds; or 500ms).",
        aliases=("warmup_time",),
        minimum=0,
        cli=SECONDS,
    )
    min_samples: int = option(
        662, help="Timed calls per cell, at least (662 backs p99, 64 p90).", minimum=1
    )
    min_duration_s: float = option(
        5.0,
        help="Seconds of timing per cell, at least (a bare number is seconds; or 500ms, 2min).",
        aliases=("min_duration",),
        minimum=0,
        cli=SECONDS,
    )
    max_duration_s: float = option(
        120.0,
        help="Stop a cell after this many seconds even short of --min-samples (a bare number "
        "is seconds; or 2min).",
        aliases=("max_duration",),
        above=0,
        cli=SECONDS,
    )
    rounds: int = option(
        1,
        help="Split each cell's budget into rounds that alternate the backends (drift hits all alike).",
        minimum=1,
    )
