"""One registry per plug-in family: names and aliases -> light entries (no torch import).

Architectures (`kdbench.models.registry.ARCHITECTURES`), backends
(`kdbench.backends.BACKENDS`), losses (`kdbench.losses.LOSSES`) and profile scenarios
(`kdbench.profile.registry.SCENARIOS`) are each one `Registry`; every other list
of their names (CLI choices, TOML validation, help text, error messages) is derived from
it, so a plug-in registered once is offered everywhere.

Names fold before they are compared: case, surrounding spaces and `_` versus `-` do not
matter. A spelling is never registered twice, in one entry or across entries.

>>> colours = Registry("colour", "--colour")
>>> colours.register("red", 1, aliases=("crimson", "ROUGE"))
1
>>> colours.canonical(" Rouge "), colours["crimson"], "Red" in colours
('red', 1, True)
>>> colours.describe()
'red (crimson, ROUGE)'
>>> colours.canonical("blue")
Traceback (most recent call last):
...
kdbench.errors.UserError: --colour 'blue': unknown colour; choose one of red (crimson, ROUGE)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from kdbench.errors import UserError

T = TypeVar("T")


def fold(name: str) -> str:
    """The form names are compared in.

    >>> fold(" Bert_Dot ")
    'bert-dot'
    """
    return name.strip().lower().replace("_", "-")


class Registry(Generic[T]):
    """Entries by canonical name and by alias; a spelling is never registered twice.

    `family` names what the entries are ("architecture"); `option` is the CLI option that
    takes them ("--arch"), used in error messages unless the caller says where else the name
    came from (a profile key).
    """

    def __init__(self, family: str, option: str) -> None:
        self.family = family
        self.option = option
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, tuple[str, ...]] = {}
        self._canonical: dict[str, str] = {}  # folded spelling -> canonical name

    # -- registering -------------------------------------------------------------------------
    def register(self, name: str, entry: T, aliases: tuple[str, ...] = ()) -> T:
        """Add `entry` under `name` and `aliases`; a spelling already taken is a programming error."""
        spellings = [fold(key) for key in (name, *aliases)]
        for index, (key, folded) in enumerate(zip((name, *aliases), spellings, strict=True)):
            if folded in self._canonical:
                raise ValueError(
                    f"{self.family} {key!r} is already registered (as {self._canonical[folded]!r})"
                )
            if folded in spellings[:index]:
                raise ValueError(f"{self.family} {key!r} is listed twice for {name!r}")
        for folded in spellings:
            self._canonical[folded] = name
        self._entries[name] = entry
        self._aliases[name] = tuple(aliases)
        return entry

    def unregister(self, name: str) -> T:
        """Remove an entry and its aliases (tests and plug-ins that register temporarily)."""
        canonical = self.canonical(name)
        self._canonical = {k: v for k, v in self._canonical.items() if v != canonical}
        del self._aliases[canonical]
        return self._entries.pop(canonical)

    # -- looking up --------------------------------------------------------------------------
    def canonical(self, name: str, where: str | None = None) -> str:
        """The canonical name for `name` or an alias; else a UserError naming `where` (default:
        the CLI option) and every choice."""
        found = self._canonical.get(fold(name))
        if found is None:
            raise UserError(
                f"{where or self.option} {name!r}: unknown {self.family}; "
                f"choose one of {self.describe()}"
            )
        return found

    def __getitem__(self, name: str) -> T:
        return self._entries[self.canonical(name)]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and fold(name) in self._canonical

    def __iter__(self) -> Iterator[str]:
        """Canonical names, in registration order (as iterating a dict gives its keys)."""
        return iter(tuple(self._entries))

    def entries(self) -> tuple[T, ...]:
        """The entries, in registration order."""
        return tuple(self._entries.values())

    def items(self) -> tuple[tuple[str, T], ...]:
        return tuple(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)

    # -- derived lists -----------------------------------------------------------------------
    def names(self) -> tuple[str, ...]:
        """Canonical names in registration order: the choices a profile file accepts as written."""
        return tuple(self._entries)

    def aliases(self, name: str) -> tuple[str, ...]:
        return self._aliases[self.canonical(name)]

    def choices(self) -> tuple[str, ...]:
        """Every registered spelling, names first: what the CLI and a profile may accept.

        >>> r = Registry("colour", "--colour"); _ = r.register("red", 1, aliases=("crimson",))
        >>> _ = r.register("blue", 2); r.choices()
        ('red', 'blue', 'crimson')
        """
        return (*self._entries, *(alias for name in self._entries for alias in self._aliases[name]))

    def describe(self) -> str:
        """'dot (bi-encoder, ...), cat (...)': the choices for error and help texts."""
        return ", ".join(
            f"{name} ({', '.join(self._aliases[name])})" if self._aliases[name] else name
            for name in self._entries
        )

    def help_text(self, summary: Callable[[T], str] | None = None) -> str:
        """One clause per entry, 'name: summary', for an option's --help (`summary` reads an
        entry's one-line description; default its `summary` attribute).

        >>> r = Registry("colour", "--colour"); _ = r.register("red", 1)
        >>> r.help_text(lambda entry: f"number {entry}")
        'red: number 1'
        """
        describe = summary or (lambda entry: str(getattr(entry, "summary", "")))
        return "; ".join(
            f"{name}: {text}" if (text := describe(entry)) else name
            for name, entry in self._entries.items()
        )
