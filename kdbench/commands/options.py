"""Typer options built from setting declarations (`kdbench.options`), so the CLI and profiles agree.

A command takes a whole config as one parameter; its fields become the options:

    @command(app, "train")
    def train(config: TrainConfig = settings(TrainConfig, exclude=("extra",))) -> None:
        ...

Each option's flags (`--field-name`, one per alias), default, help text and panel come from
the field's declaration; comma-list values are parsed by the field's `cli["parse"]`. The
options are built each time typer asks for the command's signature, so `--help` lists
choices registered after this module was imported.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic

import typer

from kdbench.errors import UserError
from kdbench.options import flag_name, help_text

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

F = typing.TypeVar("F", bound=Callable[..., Any])
C = typing.TypeVar("C", bound="DataclassInstance")  # the config a command takes


@dataclasses.dataclass(frozen=True)
class Settings(Generic[C]):
    """A command parameter that stands for the config `cls`; its fields are the options."""

    cls: type[C]
    exclude: tuple[str, ...] = ()

    def fields(self) -> list[dataclasses.Field[object]]:
        return [
            f
            for f in dataclasses.fields(self.cls)
            if f.name not in self.exclude and not f.metadata.get("cli", {}).get("hidden")
        ]

    def parameters(self) -> list[inspect.Parameter]:
        hints = typing.get_type_hints(self.cls)
        return [
            inspect.Parameter(
                f.name,
                inspect.Parameter.KEYWORD_ONLY,
                default=_typer_option(f, self.cls),
                annotation=_cli_type(f, hints[f.name]),
            )
            for f in self.fields()
        ]

    def build(self, values: Mapping[str, object]) -> C:
        """The config from the options' values; an option left unset keeps the field's default."""
        hints = typing.get_type_hints(self.cls)
        given: dict[str, object] = {}
        for f in self.fields():
            value = values[f.name]
            if _is_path(f, hints[f.name]) and value is not None:
                value = _path_value(f, hints[f.name], value)
            parse = f.metadata.get("cli", {}).get("parse")
            if parse is not None or _is_tuple(hints[f.name]):
                if value is None:
                    continue  # the declared default
                if parse is not None:
                    assert isinstance(value, str)  # typer reads a parsed option as text
                    value = _parsed_option(f, parse, value)
                else:
                    assert isinstance(value, list | tuple)  # a repeatable option
                    value = tuple(value)
            given[f.name] = value
        return self.cls(**given)


def command_line_path(text: str, flag: str, *, required: bool = False) -> str:
    """A path typed after `flag`, refused when empty: `Path("")` is "." (the working folder,
    which nobody typed), so every path option is checked here, by name, before it is used.

    >>> command_line_path("runs/bm25.txt", "--run")
    'runs/bm25.txt'
    """
    if not text.strip():
        fix = "pass a file or folder name" + ("" if required else f" (or leave {flag} out)")
        raise UserError(f"{flag} is empty; {fix}")
    return text


def path_option(default: Path | None, *flags: str, help: str) -> Any:
    """A command's own `Path` option (`--output`), its text checked by `command_line_path`
    (Any as `typer.Option` is)."""
    return typer.Option(
        default, *flags, help=help, parser=lambda text: Path(command_line_path(text, flags[0]))
    )


def _is_path(f: dataclasses.Field[Any], hint: Any) -> bool:
    """A setting that names a file or folder: declared `cli=PATH`, or typed `Path`."""
    return bool(f.metadata.get("cli", {}).get("path")) or _strip_none(hint) is Path


def _path_value(f: dataclasses.Field[Any], hint: Any, value: object) -> object:
    """The typed text of a path setting (each item of a repeatable one), checked; a `Path`
    field gets a `Path`."""
    if isinstance(value, list | tuple):
        return [_path_value(f, hint, item) for item in value]
    assert isinstance(value, str)  # typer reads a path setting as text (`_cli_type`)
    required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    text = command_line_path(value, flag_name(f), required=required)
    return Path(text) if _strip_none(hint) is Path else text


def _parsed_option(f: dataclasses.Field[Any], parse: Callable[[str], Any], text: str) -> Any:
    """`parse(text)`; its ValueError (a `kdbench.quantities.QuantityError` too) as a
    UserError naming the option."""
    try:
        return parse(text)
    except ValueError as exc:
        raise UserError(f"{flag_name(f)}: {exc}") from None


def settings(cls: type, *, exclude: tuple[str, ...] = ()) -> Any:
    """Use as a parameter's default: the parameter receives `cls` built from its options.

    Typed Any as `typer.Option` is: the default is a `Settings` marker standing in for the
    config the parameter is annotated with."""
    return Settings(cls, exclude)


def command(app: typer.Typer, name: str) -> Callable[[F], F]:
    """Register `fn` as `kdbench NAME`, its `settings(...)` parameters expanded into options."""

    def register(fn: F) -> F:
        app.command(name)(_Expanded(fn))
        return fn

    return register


class _Expanded:
    """`fn` as typer sees it: one keyword parameter per setting instead of the config."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.__name__ = fn.__name__
        self.__doc__ = fn.__doc__
        self.__annotations__: dict[str, Any] = {}  # the signature carries the types
        self._parameters = list(inspect.signature(fn, eval_str=True).parameters.values())

    @property
    def __signature__(self) -> inspect.Signature:
        expanded: list[inspect.Parameter] = []
        for parameter in self._parameters:
            if isinstance(parameter.default, Settings):
                expanded += parameter.default.parameters()
            else:
                expanded.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))
        names = [p.name for p in expanded]
        repeated = {n for n in names if names.count(n) > 1}
        if repeated:
            raise TypeError(f"{self.__name__}: options {sorted(repeated)} are declared twice")
        return inspect.Signature(expanded)

    def __call__(self, **values: Any) -> Any:
        arguments = {}
        for parameter in self._parameters:
            if isinstance(parameter.default, Settings):
                names = [f.name for f in parameter.default.fields()]
                arguments[parameter.name] = parameter.default.build(
                    {name: values.pop(name) for name in names}
                )
        return self.fn(**arguments, **values)


def _is_tuple(tp: Any) -> bool:
    return typing.get_origin(_strip_none(tp)) is tuple


def _strip_none(tp: Any) -> Any:
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _cli_type(f: dataclasses.Field[Any], tp: Any) -> Any:
    """What typer parses: comma lists as text, tuples as repeatable options."""
    if f.metadata.get("cli", {}).get("parse") is not None:
        return str | None
    if _strip_none(tp) is Path:  # as text, so "" is not typer's Path(".") (`_path_value`)
        return str if tp is Path else str | None
    if _is_tuple(tp):
        (item, *_) = typing.get_args(_strip_none(tp))
        return list[item] | None  # type: ignore[valid-type]
    return tp


def _typer_option(f: dataclasses.Field[Any], cls: type) -> Any:
    cli = f.metadata.get("cli", {})
    flags = [cli["flag"]] if "flag" in cli else [flag_name(f)]
    flags += ["--" + alias.replace("_", "-") for alias in f.metadata.get("aliases", ())]
    if f.metadata.get("short"):
        flags.append(f.metadata["short"])
    flags = list(dict.fromkeys(flags))  # an alias the flag already spells (--depth)
    if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
        default: Any = ...
    elif "parse" in cli or f.default_factory is not dataclasses.MISSING:
        default = None  # a comma list or a collection: unset means the declared default
    else:
        default = f.default
    shown: bool | str = True
    if "parse" in cli and f.default not in (None, dataclasses.MISSING):
        # typer sees None (unset); show what the field then holds
        value = f.default
        if not isinstance(value, tuple):
            shown = str(value)
        elif all(isinstance(item, int | str) for item in value):
            shown = ",".join(map(str, value))
    return typer.Option(
        default,
        *flags,
        help=help_text(f),
        rich_help_panel=_panel(f.name, cls),
        show_default=shown,
    )


def _panel(name: str, cls: type) -> str | None:
    """The option group that declares `name` first (Mining, Model loading, ...), if any."""
    for klass in reversed(cls.__mro__):
        if name in vars(klass).get("__annotations__", {}) and "PANEL" in vars(klass):
            panel: str = vars(klass)["PANEL"]
            return panel
    return None


def command_settings(app: typer.Typer, prefix: str = "") -> list[tuple[str, Settings]]:
    """Every command of `app` and its sub-apps ("teacher score") with each config it takes:
    what a test walks to cover every declared option of every command."""
    found: list[tuple[str, Settings]] = []
    for info in app.registered_commands:
        if isinstance(info.callback, _Expanded):
            found += [
                (f"{prefix}{info.name}", p.default)
                for p in info.callback._parameters
                if isinstance(p.default, Settings)
            ]
    for group in app.registered_groups:
        if group.typer_instance is not None:
            found += command_settings(group.typer_instance, f"{prefix}{group.name} ")
    return found
