"""Package attributes imported on first use, so that importing a package stays light."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping


def lazy_attributes(package: str, modules: Mapping[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package`: attribute `name` is imported from the package's
    module `modules[name]` when first asked for. A package imports the names under
    TYPE_CHECKING too, so each keeps its own type; any other name is an `object`.

    >>> attribute = lazy_attributes("kdbench.data", {"truncate": "runs"})
    >>> attribute("truncate").__module__
    'kdbench.data.runs'
    """

    def __getattr__(name: str) -> object:
        module = modules.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    return __getattr__
