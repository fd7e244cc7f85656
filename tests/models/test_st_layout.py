"""A trained dot is a SentenceTransformer folder: encode_query/encode_document give kdbench's
vectors, and score_scale x their dot product is kdbench's score."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from kdbench.models import load_model, save_checkpoint


@pytest.fixture(scope="module")
def scifact_texts(scifact_dir: Path) -> tuple[list[str], list[str]]:
    lines = (scifact_dir / "queries.jsonl").read_text().splitlines()[:6]
    queries = [json.loads(line)["text"] for line in lines]
    with open(scifact_dir / "corpus.jsonl") as corpus:
        docs = [json.loads(next(corpus))["text"] for _ in range(6)]
    return queries, docs


def assert_sentence_transformers_reproduces(folder: Path, model: object, texts: tuple) -> None:
    from sentence_transformers import SentenceTransformer

    queries, docs = texts
    # sentence-transformers cuts a query at max_seq_length (the passage length): the folder
    # carries no query_length, which 5.x refuses; kdbench cuts it at max_query_len. They
    # agree on every query that fits max_query_len.
    limit = model.spec.max_query_len  # type: ignore[attr-defined]
    fits = [len(model.tokenizer(q)["input_ids"]) <= limit for q in queries]  # type: ignore[attr-defined]
    queries = [q for q, ok in zip(queries, fits, strict=True) if ok]
    docs = [d for d, ok in zip(docs, fits, strict=True) if ok]
    assert queries, f"no test query fits {limit} tokens"
    st = SentenceTransformer(str(folder), device="cpu")
    with torch.no_grad():
        q, d = model.encode_queries(queries), model.encode_docs(docs)  # type: ignore[attr-defined]
        scores = model.score_pairs(queries, docs)  # type: ignore[attr-defined]
    st_q = torch.as_tensor(st.encode_query(queries))
    st_d = torch.as_tensor(st.encode_document(docs))
    torch.testing.assert_close(st_q, q, rtol=0, atol=1e-5)
    torch.testing.assert_close(st_d, d, rtol=0, atol=1e-5)
    scale = json.loads((folder / "kdbench.json").read_text())["spec"]["score_scale"]
    torch.testing.assert_close(
        scale * st.similarity_pairwise(st_q, st_d).float(), scores, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize(
    ("source", "options"),
    [
        ("minilm", {"max_query_len": 24, "max_doc_len": 64}),
        ("tiny", {"pooling": "cls", "similarity": "dot"}),
    ],
)
def test_saved_dot_is_a_sentence_transformers_folder(
    source: str, options: dict, minilm_path: Path, tiny_bert_dir: Path, tmp_path: Path,
    scifact_texts: tuple,
) -> None:  # fmt: skip
    model = load_model(minilm_path if source == "minilm" else tiny_bert_dir, "dot", **options)
    model.spec.score_scale = 3.0
    folder = save_checkpoint(model, tmp_path / "dot", {})
    modules = [
        m["type"].rsplit(".", 1)[-1] for m in json.loads((folder / "modules.json").read_text())
    ]
    normalised = model.spec.similarity == "cosine"
    assert modules == ["Transformer", "Pooling", *(["Normalize"] if normalised else [])]
    assert_sentence_transformers_reproduces(folder, model, scifact_texts)
    assert load_model(folder).spec == model.spec  # kdbench reads its own spec, not modules.json


def test_trained_dot_output_is_a_sentence_transformers_folder(
    minilm_path: Path, scifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    scifact_texts: tuple,
) -> None:  # fmt: skip
    from kdbench.cli import main
    from tests.helpers import cli_options

    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "student"
    assert main(["train", *cli_options(
        data=scifact_dir, model=minilm_path, arch="dot", loss="ranknet", steps=1, batch_size=2,
        layers=2, max_query_len=24, max_doc_len=24, triples_per_positive=1, dev_queries=2,
        validate_depth=4, output=out, quiet=True,
    )]) == 0  # fmt: skip
    assert (out / "1_Pooling" / "config.json").exists() and (out / "2_Normalize").is_dir()
    assert_sentence_transformers_reproduces(out, load_model(out), scifact_texts)
