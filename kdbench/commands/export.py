"""`kdbench export`: a model's ONNX graph in sentence-transformers' layout (`onnx/model.onnx`).

Written into `--output`: by default the model folder itself; a model that is not a folder
(a hub id, the packaged MiniLM) needs `--output`, which then receives a copy of the model's
files beside `onnx/`, so the folder loads in sentence-transformers on its own.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import typer

from kdbench.backends.onnx.config import OPSET_MAX, OPSET_MIN
from kdbench.commands.options import path_option
from kdbench.errors import UserError
from kdbench.io import check_writable
from kdbench.models.registry import archs_where


def export(
    model: str = typer.Option(
        ...,
        "--model",
        help=f"A {' or '.join(archs_where(lambda a: bool(a.sentence_transformers)))} model "
        "folder (a cross-encoder with its sequence-classification head), or a hub id / "
        "all-MiniLM-L6-v2 (with --output).",
    ),
    output: Path | None = path_option(
        None,
        "--output",
        "-o",
        help="Folder to write: onnx/ (and, for another folder, a copy of the model's files). "
        "Default: the model folder.",
    ),
    quantize: bool = typer.Option(
        True, "--quantize/--no-quantize", help="Also write onnx/model_qint8_avx512.onnx."
    ),
    opset: int = typer.Option(17, "--opset", help=f"ONNX opset, {OPSET_MIN} to {OPSET_MAX}."),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="Load pickled weights (pytorch_model.bin); unpickling can run code: trusted sources only.",
    ),
    backend: str = typer.Option(
        "onnx",
        "--backend",
        help="onnx (onnx/model.onnx) or openvino (openvino/openvino_model.xml, for "
        'backend="openvino"; needs kdbench[openvino]).',
    ),
) -> None:
    """ONNX or OpenVINO export for `SentenceTransformer(FOLDER, backend=...)` / `CrossEncoder(...)`."""
    from kdbench.backends.onnx.export import check_opset, export_to_model_folder
    from kdbench.models.load import load_model, resolve_folder

    if backend not in ("onnx", "openvino"):
        raise UserError(f"--backend {backend}: choose onnx or openvino")
    if backend == "openvino":
        from kdbench.backends import BACKENDS
        from kdbench.backends.openvino.export import export_openvino_to_model_folder

        BACKENDS["openvino"].require("cpu")

    def write(folder: Path) -> dict[str, Path]:
        if backend == "openvino":
            return export_openvino_to_model_folder(ranker, folder, opset=opset)
        return export_to_model_folder(ranker, folder, opset=opset, quantize=quantize)

    check_opset(opset)  # before the model loads: an export it cannot write costs nothing
    source = Path(model).expanduser()
    in_place = source.is_dir() and (output is None or _same_folder(output, source))
    if output is None and not in_place:
        if model.startswith((".", "/", "~")):
            raise UserError(f"--model {model}: no such folder; pass a model folder or a hub id")
        raise UserError(
            f"--model {model}: not a folder (a hub id or a packaged model); pass --output FOLDER "
            "for the exported copy"
        )
    if output is not None and not in_place:
        _check_new_folder(output)

    ranker = load_model(model, allow_pickle=allow_pickle)
    if in_place:
        written = write(source)
    else:
        assert output is not None
        written = _export_copy(
            resolve_folder(model, allow_pickle=allow_pickle),
            output,
            write,
        )
    for kind, path in written.items():
        typer.echo(f"{kind}: {path}")


def _same_folder(a: Path, b: Path) -> bool:
    return a.expanduser().resolve() == b.expanduser().resolve()


def _check_new_folder(output: Path) -> None:
    """`--output` must be a new or empty folder in a writable place."""
    if output.exists() and not output.is_dir():
        raise UserError(f"--output {output}: is a file; pass a folder for the exported model")
    if output.is_dir() and any(output.iterdir()):
        raise UserError(
            f"--output {output}: exists and is not empty; choose a new folder, or the model "
            "folder itself"
        )
    check_writable(output / ".kdbench-export", "--output")


def _export_copy(
    source: Path, output: Path, write: Callable[[Path], dict[str, Path]]
) -> dict[str, Path]:
    """Copy the model's files to a scratch folder beside `output`, export there, then move it
    into place: an interrupted export leaves no half-written `output`."""
    scratch = output.parent / f".{output.name}.kdbench-export-{os.getpid()}"
    shutil.rmtree(scratch, ignore_errors=True)
    output.parent.mkdir(parents=True, exist_ok=True)
    try:
        # symlinks=False: a hub cache's snapshot links into its blobs; the copy holds the files
        shutil.copytree(source, scratch, ignore=shutil.ignore_patterns("onnx", ".*"))
        written = write(scratch)
        if output.is_dir():
            output.rmdir()  # empty, checked above
        os.replace(scratch, output)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return {kind: output / path.relative_to(scratch) for kind, path in written.items()}
