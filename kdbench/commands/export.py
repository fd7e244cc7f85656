"""`kdbench export`: write a model's ONNX graph into its folder in sentence-transformers' layout."""

from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    app.command("export")(export)


def export(
    model: Path = typer.Option(
        ..., "--model", help="A dot or cross-encoder (cat) folder; onnx/ is written inside it."
    ),
    quantize: bool = typer.Option(
        True, "--quantize/--no-quantize", help="Also write onnx/model_qint8_avx512.onnx."
    ),
    opset: int = typer.Option(17, "--opset", help="ONNX opset."),
    backend: str = typer.Option(
        "onnx",
        "--backend",
        help="onnx (onnx/model.onnx) or openvino (openvino/openvino_model.xml, for "
        'backend="openvino"; needs kdbench[openvino]).',
    ),
) -> None:
    """ONNX or OpenVINO export for `SentenceTransformer(FOLDER, backend=...)` / `CrossEncoder(...)`."""
    from kdbench.errors import UserError
    from kdbench.models.load import load_model

    if backend not in ("onnx", "openvino"):
        raise UserError(f"--backend {backend}: choose onnx or openvino")
    if backend == "openvino":
        from kdbench.backends import BACKENDS

        BACKENDS["openvino"].require("cpu")
    ranker = load_model(model)
    if backend == "openvino":
        from kdbench.backends.openvino.export import export_openvino_to_model_folder

        written = export_openvino_to_model_folder(ranker, model, opset=opset)
    else:
        from kdbench.backends.onnx.export import export_to_model_folder

        written = export_to_model_folder(ranker, model, opset=opset, quantize=quantize)
    for kind, path in written.items():
        typer.echo(f"{kind}: {path}")
