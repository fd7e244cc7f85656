"""The package's structure, read from its source with `ast`: imports at the top, no loop
between folders, and a light `kdbench --help`.

Function-local imports of kdbench's own modules are allowed only where they keep a heavy
library (torch, transformers, onnxruntime, ...) off a command that does not need it; they
hide dependencies otherwise, so their number is capped. The folder graph counts them too:
a loop hidden inside a function is still a loop.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).parent.parent / "kdbench"
HEAVY = ("torch", "transformers", "onnxruntime", "openvino", "nncf", "tensorrt", "faiss", "bm25s")
MAX_LOCAL_IMPORTS = 40


def _module(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path, node: ast.Import | ast.ImportFrom) -> list[str]:
    """The kdbench modules (or package attributes) an import statement names, absolute."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names if alias.name.startswith("kdbench")]
    if node.level:
        base = _module(path).split(".")
        if path.name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join([*base, *([node.module] if node.module else [])])
    else:
        target = node.module or ""
    if not target.startswith("kdbench"):
        return []
    if target == "kdbench":  # `from kdbench import x`: x is the module
        return [f"kdbench.{alias.name}" for alias in node.names]
    return [target]


def _imports(path: Path) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement of a module and whether it runs inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            local |= {id(n) for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, id(node) in local


def _folder(module: str) -> str:
    """The top-level folder or module of kdbench a module belongs to ('models', 'config')."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "kdbench"


def local_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node, inside in _imports(path):
            if inside and _imported(path, node):
                found.append(
                    f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {ast.unparse(node)}"
                )
    return found


def folder_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        source = _folder(_module(path))
        for node, _ in _imports(path):
            for target in _imported(path, node):
                if _folder(target) not in (source, "kdbench"):
                    graph.setdefault(source, set()).add(_folder(target))
    return graph


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every cycle's folders (strongly connected components of more than one folder)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_loops_finds_a_hidden_cycle() -> None:
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert loops({"a": {"b"}, "b": set()}) == []


def test_function_local_imports_of_kdbench_modules_are_few() -> None:
    found = local_imports()
    assert len(found) <= MAX_LOCAL_IMPORTS, "\n".join(found)


def test_no_loop_between_folders_local_imports_included() -> None:
    assert loops(folder_graph()) == []


def test_kdbench_help_imports_no_heavy_library() -> None:
    """`kdbench --help` answers without torch and friends, and without the heavy half of
    kdbench (models' rankers, the training loop, the profiler's runner)."""
    probe = (
        "import sys, json\n"
        "from kdbench.cli import main\n"
        "code = main(['--help'])\n"
        "print(json.dumps([code, sorted(m for m in sys.modules if m.split('.')[0] in "
        f"{HEAVY!r} or m.startswith('kdbench'))]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout.splitlines()[-1]
    code, modules = json.loads(out)
    assert code == 0
    assert not [m for m in modules if m.split(".")[0] in HEAVY]
    heavy_kdbench = {"kdbench.models.base", "kdbench.train.loop", "kdbench.profile.runner"}
    assert not heavy_kdbench & set(modules)
    assert {"kdbench.cli", "kdbench.commands.train", "kdbench.models.registry"} <= set(modules)


def _is_overload(node: ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    return any(
        ast.unparse(decorator) in ("overload", "typing.overload")
        for decorator in node.decorator_list
    )


def test_no_class_or_function_name_is_defined_twice() -> None:
    """One name, one thing: a module-level class or function name (private ones included)
    is defined in one module only, so an import or a grep never has to ask which one."""
    where: dict[str, list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                if _is_overload(node):
                    continue  # a typed signature of the one function defined below it
                where.setdefault(node.name, []).append(str(path.relative_to(PACKAGE.parent)))
    twice = {name: paths for name, paths in where.items() if len(paths) > 1}
    assert not twice, twice
