"""`kdbench export`: write a model's ONNX graph into its folder in sentence-transformers' layout."""

from __future__ import annotations

from pathlib import Path

import typer

from kdbench.models.registry import archs_where


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    model: Path = typer.Option(
        ...,
        "--model",
        help=f"A {' or '.join(archs_where(lambda a: bool(a.sentence_transformers)))} model "
        "folder (a cross-encoder with its sequence-classification head); onnx/ is written inside it.",
    ),
    quantize: bool = typer.Option(
        True, "--quantize/--no-quantize", help="Also write onnx/model_qint8_avx512.onnx."
    ),
    opset: int = typer.Option(17, "--opset", help="ONNX opset."),
) -> None:
    """ONNX export for `SentenceTransformer(FOLDER, backend="onnx")` / `CrossEncoder(...)`."""
    from kdbench.backends.onnx.export import export_to_model_folder
    from kdbench.models.load import load_model

    ranker = load_model(model)
    for kind, path in export_to_model_folder(ranker, model, opset=opset, quantize=quantize).items():
        typer.echo(f"{kind}: {path}")
