"""PreTTR: split encoding checked against the encoder's own forward, the cache against uncached
scoring, the released checkpoint layout against its model card's code, and the CLI path."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel, DistilBertConfig, DistilBertModel
from typer.testing import CliRunner

from kdbench.cli import app
from kdbench.errors import UserError
from kdbench.models import ModelSpec, load_model, save_checkpoint
from kdbench.models.prettr import PrettrRanker, cache_bytes_per_passage

from .conftest import TOKENIZER_FILES

QUERIES = ["what is dense retrieval", "cats", "how do cross encoders rank passages in practice"]
DOCS = [
    "Dense retrieval encodes queries and passages into vectors.",
    "Cats sleep a lot.",
    "A cross-encoder reads the query and the passage together and outputs one relevance score.",
]
HIDDEN = 32


def tiny_model(folder: Path, minilm_path: Path, config: object, seed: int) -> Path:
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(minilm_path)
    model = BertModel(config) if isinstance(config, BertConfig) else DistilBertModel(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def bert4_dir(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 4-layer random BERT: the default split (3) leaves one joint layer."""
    vocab = AutoTokenizer.from_pretrained(minilm_path).vocab_size
    config = BertConfig(
        vocab_size=vocab,
        hidden_size=HIDDEN,
        num_hidden_layers=4,
        num_attention_heads=2,
        intermediate_size=64,
    )
    return tiny_model(tmp_path_factory.mktemp("bert4"), minilm_path, config, seed=11)


@pytest.fixture(scope="module")
def distilbert4_dir(minilm_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    vocab = AutoTokenizer.from_pretrained(minilm_path).vocab_size
    config = DistilBertConfig(vocab_size=vocab, dim=HIDDEN, n_layers=4, n_heads=2, hidden_dim=64)
    return tiny_model(tmp_path_factory.mktemp("distilbert4"), minilm_path, config, seed=12)


# -- the split, against the encoder's own forward -----------------------------------------------
def test_split_states_and_score_equal_the_bert_forward(bert4_dir: Path) -> None:
    model = load_model(bert4_dir, "prettr")
    assert model.spec.split_layer == 3 and model.passage_offset == model.spec.max_query_len == 32
    reference = BertModel.from_pretrained(bert4_dir, attn_implementation="eager").eval()
    first = copy.deepcopy(reference)
    first.encoder.layer = first.encoder.layer[:3]
    query, doc = model.tokenize(QUERIES, "doc"), model.tokenize(DOCS, "doc")
    query = model.collate(model.token_ids(QUERIES, "query"), "query")
    with torch.no_grad():
        # Query: "[CLS] q [SEP]" at positions 0.. in segment 0, alone through layers 1..3.
        q_expected = first(**query).last_hidden_state
        # Passage: "d [SEP]" at positions 32.. in segment 1, alone through layers 1..3.
        width = doc["input_ids"].shape[1]
        d_expected = first(
            **doc,
            position_ids=torch.arange(32, 32 + width).unsqueeze(0),
            token_type_ids=torch.ones_like(doc["input_ids"]),
        ).last_hidden_state * doc["attention_mask"].unsqueeze(-1)
        q_states = model.forward_query_states(**query)
        d_states = model.forward_passage_states(**doc)
        real = query["attention_mask"].bool()
        torch.testing.assert_close(q_states[real], q_expected[real], rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(d_states, d_expected, rtol=1e-5, atol=1e-5)
        # Layer 4 over the concatenation with the joint padding mask, then head([CLS]).
        joint = torch.cat([q_expected, d_expected], 1)
        mask = torch.cat([query["attention_mask"], doc["attention_mask"]], 1)
        additive = (1.0 - mask[:, None, None, :].float()) * torch.finfo(torch.float32).min
        top = reference.encoder.layer[3](joint, additive)
        expected = top[:, 0] @ model.head.weight.T
        scores = model.score_pairs(QUERIES, DOCS)
    torch.testing.assert_close(scores, expected.squeeze(-1), rtol=1e-5, atol=1e-5)
    assert model.head.bias is None  # as released: Linear(hidden, 1, bias=False)


def test_tokenization_query_with_cls_passage_without(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "prettr", split_layer=1, max_query_len=5, max_doc_len=6)
    tokenizer = model.tokenizer
    cls, sep = tokenizer.cls_token_id, tokenizer.sep_token_id
    long_query = "one two three four five six"
    (query,) = model.token_ids([long_query], "query")
    (doc,) = model.token_ids([DOCS[2]], "doc")
    words = tokenizer(long_query, add_special_tokens=False)["input_ids"]
    passage = tokenizer(DOCS[2], add_special_tokens=False)["input_ids"]
    assert query == [cls, *words[:3], sep]
    assert doc == [*passage[:5], sep]


# -- the cache ------------------------------------------------------------------------------------
@pytest.mark.parametrize("batch_size", [1, 2, 32])
def test_cached_rerank_equals_uncached_scoring(tiny_bert_dir: Path, batch_size: int) -> None:
    model = load_model(tiny_bert_dir, "prettr", split_layer=1)
    with torch.no_grad():
        uncached = model.score_pairs(QUERIES, DOCS, batch_size=batch_size)
        cache = model.encode_passage_states(DOCS, batch_size=batch_size)
        cached = model.score_with_cache(QUERIES, cache, batch_size=batch_size)
        # One query against every cached passage: the re-ranking shape.
        rerank = model.score_with_cache([QUERIES[0]] * 3, cache, indices=[2, 0, 1])
        rerank_uncached = model.score_pairs([QUERIES[0]] * 3, [DOCS[2], DOCS[0], DOCS[1]])
    torch.testing.assert_close(cached, uncached, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(rerank, rerank_uncached, rtol=1e-5, atol=1e-5)
    one_by_one = torch.cat(
        [model.score_pairs([q], [d]) for q, d in zip(QUERIES, DOCS, strict=True)]
    ).detach()
    torch.testing.assert_close(uncached, one_by_one, rtol=1e-5, atol=1e-5)


def test_cache_size_per_passage(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "prettr", split_layer=1)
    lengths = [len(ids) for ids in model.token_ids(DOCS, "doc")]
    cache = model.encode_passage_states(DOCS)
    assert cache.vecs.shape == (sum(lengths), HIDDEN) and cache.lengths.tolist() == lengths
    assert cache_bytes_per_passage(cache) == pytest.approx(sum(lengths) / 3 * HIDDEN * 4)
    half = model.encode_passage_states(DOCS, dtype=torch.float16)
    assert cache_bytes_per_passage(half) == pytest.approx(cache_bytes_per_passage(cache) / 2)
    torch.testing.assert_close(half.vecs.float(), cache.vecs, rtol=1e-2, atol=1e-2)


def test_export_modules_take_tokenize_output(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "prettr", split_layer=1)
    pair = model.tokenize(QUERIES, "pair", pair_docs=DOCS)
    assert tuple(pair) == model.export_inputs("pair")
    doc = model.tokenize(DOCS, "doc")
    assert tuple(doc) == model.export_inputs("doc") == ("input_ids", "attention_mask")
    with torch.no_grad():
        torch.testing.assert_close(
            model.export_module("pair")(*pair.values()), model.score_pairs(QUERIES, DOCS)
        )
        states, mask = model.encode_passage_states(DOCS).padded()
        torch.testing.assert_close(model.export_module("doc")(*doc.values()), states)
    assert torch.equal(doc["attention_mask"].bool(), mask)
    with pytest.raises(ValueError, match="has no 'query' input"):
        model.export_module("query")


def test_score_pairs_trains(tiny_bert_dir: Path) -> None:
    model = load_model(tiny_bert_dir, "prettr", split_layer=1)
    model.train()
    model.score_pairs(QUERIES, DOCS, batch_size=2).sum().backward()
    assert model.head.weight.grad is not None and model.head.weight.grad.abs().sum() > 0
    embeddings = model.encoder.embeddings.word_embeddings.weight
    assert embeddings.grad is not None and embeddings.grad.abs().sum() > 0


def test_real_minilm_default_split(minilm_path: Path) -> None:
    model = load_model(minilm_path, "prettr", max_doc_len=64)
    assert model.spec.split_layer == 3 and len(model.encoder.encoder.layer) == 6
    with torch.no_grad():
        cached = model.score_with_cache(QUERIES, model.encode_passage_states(DOCS))
        torch.testing.assert_close(cached, model.score_pairs(QUERIES, DOCS), rtol=1e-5, atol=1e-5)


# -- settings, errors, checkpoints -----------------------------------------------------------------
def test_checkpoint_round_trip_keeps_split_and_offset(tiny_bert_dir: Path, tmp_path: Path) -> None:
    model = load_model(tiny_bert_dir, "prettr", split_layer=1, max_query_len=16)
    folder = save_checkpoint(model, tmp_path / "ckpt", {"step": 1})
    restored = load_model(folder, max_query_len=8)  # shorter queries keep the trained passage slot
    assert restored.spec.split_layer == 1 and restored.passage_offset == 16
    with torch.no_grad():
        torch.testing.assert_close(
            restored.score_pairs(["cats"], [DOCS[1]]), model.score_pairs(["cats"], [DOCS[1]])
        )
    with pytest.raises(UserError, match="split is fixed at layer 1; drop --split-layer"):
        load_model(folder, split_layer=2)
    with pytest.raises(UserError, match="--max-query-len 20 exceeds the 16-token query slot"):
        load_model(folder, max_query_len=20)
    with pytest.raises(UserError, match=r"query slot 16 \+ --max-doc-len 500 tokens exceeds"):
        load_model(folder, max_query_len=8, max_doc_len=500)


def test_old_specs_load_without_a_split() -> None:
    assert ModelSpec.from_dict({"arch": "dot", "encoder": "x"}).split_layer is None


def test_bad_splits_name_the_option(tiny_bert_dir: Path) -> None:
    with pytest.raises(UserError, match=r"--split-layer 3 needs 4\+ layers .* between 1 and 1"):
        load_model(tiny_bert_dir, "prettr")  # the default split needs more than 2 layers
    with pytest.raises(UserError, match="--split-layer must be at least 1"):
        load_model(tiny_bert_dir, "prettr", split_layer=0)
    with pytest.raises(UserError, match="--split-layer only applies to prettr, not dot"):
        load_model(tiny_bert_dir, "dot", split_layer=1)
    with pytest.raises(UserError, match=r"--split-layer 2 needs 3\+ layers"):
        load_model(tiny_bert_dir, "prettr", split_layer=2, layers=2)
    with pytest.raises(UserError, match="--pooling only applies to dot, not prettr"):
        load_model(tiny_bert_dir, "prettr", split_layer=1, pooling="mean")


# -- the released layout ---------------------------------------------------------------------------
def released_prettr(
    folder: Path, minilm_path: Path, encoder_dir: Path, head: dict, config: dict
) -> Path:
    """Shaped like the hub release: the card's PreTTR is a DistilBertModel subclass, so its
    weights have no prefix, plus `_classification_layer.weight`; pickled, with vocab.txt."""
    from safetensors.torch import load_file

    folder.mkdir()
    state = load_file(str(encoder_dir / "model.safetensors")) | head
    torch.save(state, folder / "pytorch_model.bin")
    encoder_config = json.loads((encoder_dir / "config.json").read_text())
    (folder / "config.json").write_text(
        json.dumps(encoder_config | {"architectures": ["PreTTR"]} | config)
    )
    for name in TOKENIZER_FILES:
        shutil.copy(minilm_path / name, folder / name)
    return folder


@pytest.fixture
def released_dir(tmp_path: Path, minilm_path: Path, distilbert4_dir: Path) -> Path:
    torch.manual_seed(13)
    head = {"_classification_layer.weight": torch.randn(1, HIDDEN)}
    return released_prettr(tmp_path / "prettr", minilm_path, distilbert4_dir, head, {})


def model_card_scores(
    folder: Path, queries: list[str], docs: list[str], offset: int | None = None
) -> torch.Tensor:
    """The card's forward by hand, one pair at a time as its notebook calls it: the query is
    "[CLS] q [SEP]" + 8 [MASK] (attended), the passage drops its [CLS] and sits at positions
    from the query's width (or `offset`); both pass layers 1..3 alone, then layer 4 together;
    the no-bias head on [CLS]."""
    encoder = DistilBertModel.from_pretrained(folder, attn_implementation="eager").eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    state = torch.load(folder / "pytorch_model.bin", weights_only=True)
    embeddings, layers = encoder.embeddings, encoder.transformer.layer

    def embed(ids: torch.Tensor, start: int) -> torch.Tensor:
        positions = torch.arange(ids.shape[1]).unsqueeze(0) + start
        return embeddings.LayerNorm(
            embeddings.word_embeddings(ids) + embeddings.position_embeddings(positions)
        )

    scores = []
    with torch.no_grad():
        for query, doc in zip(queries, docs, strict=True):
            q_ids = torch.tensor([tokenizer(query)["input_ids"] + [tokenizer.mask_token_id] * 8])
            d_ids = torch.tensor([tokenizer(doc)["input_ids"][1:]])
            q = embed(q_ids, 0)
            d = embed(d_ids, q_ids.shape[1] if offset is None else offset)
            for layer in layers[:3]:
                q, d = layer(q, None), layer(d, None)
            joint = torch.cat([q, d], 1)
            for layer in layers[3:]:
                joint = layer(joint, None)
            scores.append(joint[0, 0] @ state["_classification_layer.weight"][0])
    return torch.stack(scores)


def test_released_layout_loads_every_weight_and_equals_the_model_card(released_dir: Path) -> None:
    model = load_model(released_dir, allow_pickle=True)  # raises on any missing/unexpected key
    assert isinstance(model, PrettrRanker) and model.spec.split_layer == 3
    assert model.token_type_input is False
    assert (model.spec.max_query_len, model.spec.max_doc_len, model.query_masks) == (30, 199, 8)
    assert model.passage_positions == "query_width" and model.passage_offset == 38
    state = torch.load(released_dir / "pytorch_model.bin", weights_only=True)
    assert set(model.state_dict()) == {
        f"encoder.{k}" for k in state if k.startswith(("emb", "tr"))
    } | {"head.weight"}
    with torch.no_grad():
        ours = model.score_pairs(QUERIES, DOCS, batch_size=2)  # mixed query widths, batched
        torch.testing.assert_close(
            ours, model_card_scores(released_dir, QUERIES, DOCS), rtol=1e-5, atol=1e-5
        )
        with pytest.raises(UserError, match="cannot be cached"):
            model.encode_passage_states(DOCS)
        # The cacheable mode: passages at the fixed query slot, 30 + 8 masks.
        model.use_fixed_positions()
        fixed = model.score_pairs(QUERIES, DOCS)
        cached = model.score_with_cache(QUERIES, model.encode_passage_states(DOCS))
    expected = model_card_scores(released_dir, QUERIES, DOCS, offset=38)
    torch.testing.assert_close(fixed, expected, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cached, fixed, rtol=1e-5, atol=1e-5)
    assert not torch.allclose(fixed, ours, rtol=1e-3, atol=1e-3)  # the two modes differ


def test_prettr_position_ids_in_both_modes(released_dir: Path) -> None:
    """The joint layout: "[CLS] q [SEP] [MASK]x8" at 0.., "d [SEP]" at the query width (own
    mode) or at 38 (fixed); what reaches the embeddings, recorded per call."""
    model = load_model(released_dir, allow_pickle=True)
    seen: list[list[int]] = []
    stack_embed = model.stack().__class__.embed

    def record(
        self: object,
        input_ids: torch.Tensor,
        mask: torch.Tensor,
        positions: torch.Tensor,
        types: torch.Tensor,
    ) -> torch.Tensor:
        seen.append(positions[0].tolist())
        return stack_embed(self, input_ids, mask, positions, types)  # type: ignore[arg-type]

    tokenizer = model.tokenizer
    width = len(tokenizer("cats")["input_ids"]) + 8
    doc_len = len(tokenizer("dogs bark")["input_ids"]) - 1
    with pytest.MonkeyPatch.context() as patch, torch.no_grad():
        patch.setattr(model.stack().__class__, "embed", record)
        model.score_pairs(["cats"], ["dogs bark"])
        model.use_fixed_positions()
        model.score_pairs(["cats"], ["dogs bark"])
    passage_own, query_own, passage_fixed, query_fixed = seen
    assert query_own == query_fixed == list(range(width))
    assert passage_own == list(range(width, width + doc_len))
    assert passage_fixed == list(range(38, 38 + doc_len))
    (query,) = model.collate(model.token_ids(["cats"], "query"), "query")["input_ids"].tolist()
    assert query[-9] == tokenizer.sep_token_id and query[-8:] == [tokenizer.mask_token_id] * 8


def test_released_layout_reads_join_layer_from_config(
    tmp_path: Path, minilm_path: Path, distilbert4_dir: Path
) -> None:
    head = {"_classification_layer.weight": torch.randn(1, HIDDEN)}
    folder = released_prettr(
        tmp_path / "split2", minilm_path, distilbert4_dir, head, {"join_layer_idx": 2}
    )
    assert load_model(folder, "prettr", allow_pickle=True).spec.split_layer == 2


def test_released_layout_refuses_unexpected_and_missing_keys(
    tmp_path: Path, minilm_path: Path, distilbert4_dir: Path
) -> None:
    with_bias = {
        "_classification_layer.weight": torch.randn(1, HIDDEN),
        "_classification_layer.bias": torch.randn(1),
    }
    folder = released_prettr(tmp_path / "bias", minilm_path, distilbert4_dir, with_bias, {})
    with pytest.raises(UserError, match=r"unexpected \['_classification_layer.bias'\]"):
        load_model(folder, allow_pickle=True)
    folder = released_prettr(tmp_path / "headless", minilm_path, distilbert4_dir, {}, {})
    with pytest.raises(UserError, match=r"not a PreTTR checkpoint .*missing \['_classification"):
        load_model(folder, allow_pickle=True)
    with pytest.raises(UserError, match=r"not a PreTTR checkpoint .*missing \['_classification"):
        load_model(folder, "cat", allow_pickle=True)  # as a cat it needs the same weights
    with pytest.raises(UserError, match=r"PreTTR layout .*pass --arch prettr"):
        load_model(folder, "colbert", allow_pickle=True)


def test_released_layout_runs_as_cat_with_the_same_weights(
    tmp_path: Path, minilm_path: Path, distilbert4_dir: Path
) -> None:
    head = {"_classification_layer.weight": torch.randn(1, HIDDEN)}
    folder = released_prettr(tmp_path / "prettr", minilm_path, distilbert4_dir, head, {})
    prettr = load_model(folder, allow_pickle=True)
    cat = load_model(folder, "cat", allow_pickle=True)  # what `profile --baseline-arch cat` builds
    assert (prettr.arch, cat.arch) == ("prettr", "cat")
    torch.testing.assert_close(cat.head.weight, prettr.head.weight, rtol=0, atol=0)
    assert float(cat.head.bias) == 0.0


# -- the CLI: train with and without a teacher, then re-rank BM25 -----------------------------------
SHORT = ["--max-query-len", "12", "--max-doc-len", "24", "--triples-per-positive", "1"]


def invoke(args: list[str]) -> str:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def test_train_and_rerank_through_the_cli(
    bert4_dir: Path, scifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    data, scores = str(scifact_dir), tmp_path / "bm25-teacher.tsv"
    invoke(["teacher", "score", "--data", data, "--model", "bm25", "--output", str(scores),
            "--triples-per-positive", "1", "--dev-queries", "5"])  # fmt: skip
    for name, loss in (("kd", ["--loss", "margin-mse", "--teacher-scores", str(scores)]),
                       ("nokd", ["--loss", "ranknet"])):  # fmt: skip
        invoke(["train", "--data", data, "--model", str(bert4_dir), "--arch", "prettr", *loss,
                "--steps", "2", "--batch-size", "4", "--dev-queries", "5", "--validate-depth", "8",
                "--output", str(tmp_path / name), "--quiet", *SHORT])  # fmt: skip
        spec = json.loads((tmp_path / name / "kdbench.json").read_text())["spec"]
        assert (spec["arch"], spec["split_layer"], spec["extra"]) == (
            "prettr",
            3,
            {"passage_position_offset": 12},
        )
    out = tmp_path / "eval.json"
    invoke(["evaluate", "--data", data, "--split", "test", "--model", str(tmp_path / "kd"),
            "--rerank", "bm25", "--depth", "10", "--queries", "5", "--output", str(out)])  # fmt: skip
    result = json.loads(out.read_text())
    assert result["config"]["arch"] == "prettr" and result["config"]["reranked"] is True
    assert len(result["per_query"]["nDCG@10"]) == 5
    # A plain folder takes --arch prettr at evaluation time too.
    invoke(["evaluate", "--data", data, "--split", "test", "--model", str(bert4_dir), "--arch",
            "prettr", "--depth", "5", "--queries", "2", "--max-doc-len", "24"])  # fmt: skip


# -- --split-layer on evaluate and profile ------------------------------------------------------------
def test_evaluate_split_layer_reaches_the_model(
    tiny_bert_dir: Path, scifact_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KDBENCH_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "eval.json"
    invoke(["evaluate", "--data", str(scifact_dir), "--split", "test", "--model", str(tiny_bert_dir),
            "--arch", "prettr", "--split-layer", "1", "--depth", "3", "--queries", "2",
            "--max-doc-len", "24", "--output", str(out)])  # fmt: skip
    config = json.loads(out.read_text())["config"]
    assert config["split_layer"] == 1 and config["model_spec"]["split_layer"] == 1
    assert config["arch"] == "prettr" and config["reranked"] is True


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["evaluate", "--model", "bm25", "--split-layer", "1"], "not --model bm25"),
        (
            ["evaluate", "--model", "TINY", "--arch", "dot", "--split-layer", "1"],
            "--split-layer only applies to prettr, not dot",
        ),
        (["evaluate", "--model", "TINY", "--arch", "prettr"], r"--split-layer 3 needs 4+ layers"),
        (
            ["profile", "--model", "TINY", "--arch", "prettr", "--split-layer", "2"],
            "pass --split-layer between 1 and 1",
        ),
        (
            ["profile", "--model", "TINY", "--arch", "cat", "--split-layer", "1"],
            "--split-layer only applies to prettr, not cat",
        ),
        (
            ["profile", "--model", "TINY", "--arch", "prettr", "--split-layer", "0"],
            "--split-layer: must be at least 1, got 0",
        ),
    ],
)
def test_split_layer_mistakes_are_one_line_exit_2(
    args: list[str],
    expected: str,
    tiny_bert_dir: Path,
    scifact_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from kdbench.cli import main

    args = [str(tiny_bert_dir) if arg == "TINY" else arg for arg in args]
    data = ["--data", str(scifact_dir), "--split", "test", "--queries", "1"]
    data = data if args[0] == "evaluate" else []
    code = main([*args, *data])
    err = capsys.readouterr().err
    # profile logs its progress on stderr too; the error itself is one line
    errors = [line for line in err.splitlines() if line.startswith("kdbench: error")]
    assert code == 2 and len(errors) == 1 and expected in errors[0], err
