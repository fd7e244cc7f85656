"""Every encoder family x architecture x backend on tiny random-weight models (no download).

Families: BERT, MiniLM (BERT with MiniLM's config), DistilBERT, ELECTRA (small embeddings
projected up), DeBERTa-v2 (with its convolution layer) and v3, XLM-RoBERTa (positions from
padding_idx + 1). BERT-like families use MiniLM's WordPiece tokenizer; DeBERTa and XLM-R
get a Unigram tokenizer trained here on SciFact passages, wrapped in their own tokenizer
classes, so their special tokens and padding ids are the real ones (XLM-R pads with 1).

Each model is checked in eager mode (scores do not depend on batching or padding; prettr's
cached scores equal its uncached ones; `layers=N` finds the layer list) and through ONNX
Runtime (max abs diff to eager on a padded batch of another shape than the traced one).
"""

from __future__ import annotations

import copy
import itertools
import json
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from kdbench.errors import UserError
from kdbench.models import load_model
from kdbench.models.load import transformer_layers
from kdbench.models.ranker import Ranker

QUERIES = ["what is dense retrieval", "cats", "how do cross encoders rank passages in practice"]
DOCS = [
    "Dense retrieval encodes queries and passages into vectors.",
    "Cats sleep a lot.",
    "A cross-encoder reads the query and the passage together and outputs one relevance score.",
]
SMALL = {
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
}
FAMILIES = ("bert", "minilm", "distilbert", "electra", "deberta-v2", "deberta-v3", "xlm-roberta")
ARCHS = ("dot", "cat", "colbert", "prettr")
# What a re-ranking or retrieval system runs per architecture (prettr: the cache, then query time).
EXPORTS = (
    ("dot", "doc"),
    ("colbert", "query"),
    ("cat", "pair"),
    ("prettr", "doc"),
    ("prettr", "pair"),
)


def unigram_vocab(texts: list[str], specials: list[str]) -> list[tuple[str, float]]:
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(
        vocab_size=600, special_tokens=specials, unk_token=specials[3], show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer)
    return [tuple(piece) for piece in json.loads(tokenizer.to_str())["model"]["vocab"]]


def build_family(name: str, folder: Path, minilm_path: Path, texts: list[str]) -> Path:
    """A tiny random model of family `name` with a matching tokenizer, saved to `folder`."""
    import transformers as hf

    torch.manual_seed(FAMILIES.index(name))
    wordpiece = hf.AutoTokenizer.from_pretrained(minilm_path)
    model: hf.PreTrainedModel
    if name == "bert":
        tokenizer = wordpiece
        model = hf.BertModel(hf.BertConfig(vocab_size=wordpiece.vocab_size, **SMALL))
    elif name == "minilm":
        config = hf.BertConfig.from_pretrained(minilm_path)  # MiniLM's own settings, made tiny
        for key, value in SMALL.items():
            setattr(config, key, value)
        tokenizer, model = wordpiece, hf.BertModel(config)
    elif name == "distilbert":
        config = hf.DistilBertConfig(
            vocab_size=wordpiece.vocab_size, dim=32, n_layers=2, n_heads=2, hidden_dim=64
        )
        tokenizer, model = wordpiece, hf.DistilBertModel(config)
    elif name == "electra":
        config = hf.ElectraConfig(vocab_size=wordpiece.vocab_size, embedding_size=16, **SMALL)
        tokenizer, model = wordpiece, hf.ElectraModel(config)
    elif name.startswith("deberta"):
        vocab = unigram_vocab(texts, ["[PAD]", "[CLS]", "[SEP]", "[UNK]", "[MASK]"])
        tokenizer = hf.DebertaV2Tokenizer(vocab=vocab, unk_id=3)
        # v3: relative attention only (no absolute positions, no segments); v2 adds the convolution.
        settings = {
            "relative_attention": True,
            "position_buckets": 16,
            "max_relative_positions": -1,
            "norm_rel_ebd": "layer_norm",
            "share_att_key": True,
            "pos_att_type": ["p2c", "c2p"],
            "position_biased_input": False,
            "type_vocab_size": 0,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if name == "deberta-v2":
            settings |= {"conv_kernel_size": 3, "conv_act": "gelu"}
        config = hf.DebertaV2Config(vocab_size=len(tokenizer), **SMALL, **settings)
        model = hf.DebertaV2Model(config)
    elif name == "xlm-roberta":
        vocab = [*unigram_vocab(texts, ["<s>", "<pad>", "</s>", "<unk>"]), ("<mask>", 0.0)]
        tokenizer = hf.XLMRobertaTokenizer(vocab=vocab)
        config = hf.XLMRobertaConfig(
            vocab_size=len(tokenizer),
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.cls_token_id,
            eos_token_id=tokenizer.sep_token_id,
            max_position_embeddings=514,
            type_vocab_size=1,
            **SMALL,
        )
        model = hf.XLMRobertaModel(config)
    else:
        raise ValueError(name)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def family_dirs(
    minilm_path: Path, scifact_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    with (scifact_dir / "corpus.jsonl").open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in itertools.islice(lines, 300)]
    root = tmp_path_factory.mktemp("families")
    return {name: build_family(name, root / name, minilm_path, texts) for name in FAMILIES}


def load(folder: Path, arch: str, **options: int) -> Ranker:
    if arch == "prettr":
        options.setdefault("split_layer", 1)
    return load_model(folder, arch, **options)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("family", FAMILIES)
def test_family_runs_each_architecture(
    family_dirs: dict[str, Path], family: str, arch: str
) -> None:
    model = load(family_dirs[family], arch)
    with torch.no_grad():
        together = model.score_pairs(QUERIES, DOCS, batch_size=3)
        one_by_one = torch.cat(
            [model.score_pairs([q], [d]) for q, d in zip(QUERIES, DOCS, strict=True)]
        )
        # Padding and batching must not change a score (position ids, masks, segment ids).
        torch.testing.assert_close(together, one_by_one, rtol=1e-4, atol=1e-4)
        if arch == "prettr":
            cached = model.score_with_cache(QUERIES, model.encode_passage_states(DOCS))  # type: ignore[attr-defined]
            torch.testing.assert_close(cached, together, rtol=1e-5, atol=1e-5)
    assert torch.isfinite(together).all()


@pytest.mark.parametrize("family", FAMILIES)
def test_layer_truncation_finds_every_family_layer_list(
    family_dirs: dict[str, Path], family: str
) -> None:
    model = load(family_dirs[family], "dot", layers=1)
    found = transformer_layers(model.encoder)
    assert found is not None and len(found[0].layer) == 1  # type: ignore[arg-type]
    with torch.no_grad():
        assert model.score_pairs(QUERIES[:1], DOCS[:1]).shape == (1,)
    # prettr finds the same list: split 1 of 2 layers, and no split left after truncation.
    assert load(family_dirs[family], "prettr").split_layer == 1  # type: ignore[attr-defined]
    with pytest.raises(UserError, match="needs at least 2 encoder layers"):
        load(family_dirs[family], "prettr", layers=1)


def export_onnx(model: Ranker, kind: str, path: Path) -> Callable[..., np.ndarray]:
    """Trace `export_module(kind)` on a padded batch with dynamic batch/length axes; an ORT runner.

    As kdbench.backends.onnx does: a copy (the TorchScript exporter leaves the module it traced
    computing wrong outputs in torch 2.13) with the `eager` attention implementation.
    """
    import onnxruntime

    names = model.export_inputs(kind)  # type: ignore[arg-type]
    example = model.tokenize(QUERIES[:2], kind, pair_docs=DOCS[:2] if kind == "pair" else None)  # type: ignore[arg-type]
    assert bool((example["attention_mask"] == 0).any())  # padded, so the mask is not baked in
    module = copy.deepcopy(model.export_module(kind)).eval()  # type: ignore[arg-type]
    for child in module.modules():
        setter = getattr(child, "set_attn_implementation", None)
        if setter is not None and getattr(child, "config", None) is not None:
            setter("eager")
    with torch.no_grad():
        output_rank = module(*example.values()).dim()
    axes = {
        name: {0: "batch", 1: "doc_seq" if name.startswith("passage") else "seq"} for name in names
    }
    axes["output"] = {0: "batch", 1: "seq"} if output_rank > 1 else {0: "batch"}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(example.values()),
            str(path),
            dynamo=False,  # type: ignore[arg-type]
            opset_version=17,
            input_names=list(names),
            output_names=["output"],
            dynamic_axes=axes,
        )
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == list(names)

    def run(inputs: dict[str, torch.Tensor]) -> np.ndarray:
        (output,) = session.run(None, {k: v.numpy() for k, v in inputs.items()})
        return np.asarray(output)

    return run


@pytest.mark.parametrize(("arch", "kind"), EXPORTS)
@pytest.mark.parametrize("family", FAMILIES)
def test_family_onnx_matches_eager_on_a_padded_batch(
    family_dirs: dict[str, Path], tmp_path: Path, family: str, arch: str, kind: str
) -> None:
    pytest.importorskip("onnxruntime")
    model = load(family_dirs[family], arch)
    run = export_onnx(model, kind, tmp_path / f"{family}-{arch}-{kind}.onnx")
    # Another batch size, longer texts and other padding than the traced example.
    texts = [*QUERIES, "a b c d e f g h i j k l m n o p"]
    inputs = model.tokenize(texts, kind, pair_docs=[*DOCS, "x"] if kind == "pair" else None)  # type: ignore[arg-type]
    with torch.no_grad():
        eager = model.export_module(kind)(*inputs.values()).numpy()  # type: ignore[arg-type]
    onnx_out = run(inputs)
    assert onnx_out.shape == eager.shape
    np.testing.assert_allclose(onnx_out, eager, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("family", FAMILIES)
def test_backend_exporter_handles_every_family(
    family_dirs: dict[str, Path], tmp_path: Path, family: str
) -> None:
    """kdbench's own ONNX export path (cache, padded-batch parity check) on each family's dot."""
    pytest.importorskip("onnxruntime")
    from kdbench.backends.onnx.export import ensure_raw

    model = load(family_dirs[family], "dot")
    example = model.tokenize(DOCS, "doc")
    path, info = ensure_raw(model.export_module("doc"), "doc", example, tmp_path, opset=17)
    assert path.exists() and info["export_check_max_abs_diff"] < 1e-4


def test_prettr_refuses_a_family_it_cannot_split(minilm_path: Path, tmp_path: Path) -> None:
    from transformers import AutoTokenizer, MPNetConfig, MPNetModel

    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    MPNetModel(MPNetConfig(vocab_size=tokenizer.vocab_size, **SMALL)).save_pretrained(tmp_path)
    tokenizer.save_pretrained(tmp_path)
    assert load_model(tmp_path, "dot").arch == "dot"  # the other architectures take any encoder
    with pytest.raises(
        UserError, match=r"prettr splits .*bert.* encoders, not 'mpnet'; use --arch cat"
    ):
        load_model(tmp_path, "prettr", split_layer=1)
