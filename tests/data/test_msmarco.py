"""MS MARCO-style TSV folders, the offset docstore on generated files, topics-only folders."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from kdbench.data import OffsetDocStore, load_collection
from kdbench.errors import UserError

PASSAGES = {
    "0": "The presence of communication amid scientific minds was equally important.",
    "1": "The Manhattan Project and its atomic bomb helped bring an end to World War II.",
    "17": "Tabs are not allowed inside passages, but ünïcode is: 東京.",
    "3": "Essay on the Manhattan Project.",
}


def write_msmarco(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "collection.tsv").write_text(
        "".join(f"{pid}\t{text}\n" for pid, text in PASSAGES.items()), encoding="utf-8"
    )
    (folder / "queries.dev.tsv").write_text(
        "q1\tmanhattan project\nq2\twhat is communication\nq3\tunjudged query\n", encoding="utf-8"
    )
    (folder / "qrels.dev.tsv").write_text("q1 0 1 1\nq1 0 3 0\nq2\t0\t0\t2\n", encoding="utf-8")
    return folder


def test_msmarco_folder(tmp_path: Path) -> None:
    collection = load_collection(write_msmarco(tmp_path / "msmarco"), "dev")
    assert collection.docs.ids().tolist() == ["0", "1", "17", "3"]
    assert collection.docs["17"] == PASSAGES["17"]
    assert collection.docs.get_many(["3", "0"]) == [PASSAGES["3"], PASSAGES["0"]]
    assert collection.queries == {
        "q1": "manhattan project",
        "q2": "what is communication",
    }  # q3 has no qrels
    assert collection.qrels == {"q1": {"1": 1, "3": 0}, "q2": {"0": 2}}
    assert collection.warnings == []
    batches = list(collection.docs.iter_batches(3))
    assert batches == [
        (["0", "1", "17"], [PASSAGES["0"], PASSAGES["1"], PASSAGES["17"]]),
        (["3"], [PASSAGES["3"]]),
    ]


def test_offset_docstore_handles_crlf_blank_lines_and_lookups(tmp_path: Path) -> None:
    path = tmp_path / "collection.tsv"
    path.write_bytes(
        b"10\tfirst passage\r\n\n7\tsecond\tpassage\r\n".replace(
            b"second\tpassage", b"second passage"
        )
        + "5\tdritte Passage ü\n".encode()
    )
    store = OffsetDocStore(path, "tsv", cache_dir=tmp_path / "cache")
    assert len(store) == 3
    assert store.ids().tolist() == ["10", "7", "5"]
    assert store.get_many(["5", "10", "7"]) == [
        "dritte Passage ü",
        "first passage",
        "second passage",
    ]
    assert store.missing(["7", "8", "1", "50"]) == ["8", "1", "50"]
    assert isinstance(store.ids(), np.ndarray)


def test_offset_index_is_rebuilt_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "collection.tsv"
    path.write_text("1\tone\n2\ttwo\n", encoding="utf-8")
    first = OffsetDocStore(path, "tsv", cache_dir=tmp_path / "cache")
    assert first["2"] == "two"
    path.write_text("1\tone\n2\ttwo, changed\n3\tthree\n", encoding="utf-8")
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    second = OffsetDocStore(path, "tsv", cache_dir=tmp_path / "cache")
    assert second.index_dir != first.index_dir
    assert second.get_many(["2", "3"]) == ["two, changed", "three"]


def test_topics_only_folder_evaluates_without_passages(msmarco_eval_dir: Path) -> None:
    collection = load_collection(msmarco_eval_dir, "dl19")
    assert len(collection.queries) == 43
    assert sum(len(judged) for judged in collection.qrels.values()) == 9260
    assert set(collection.qrels["19335"].values()) <= {0, 1, 2, 3}
    assert not collection.docs.has_docs
    with pytest.raises(UserError, match="has no passages"):
        collection.docs.get_many(["7187158"])
    dl20 = load_collection(msmarco_eval_dir, "dl20")
    assert len(dl20.queries) == 54  # 200 topics, 54 judged
    assert sum(len(judged) for judged in dl20.qrels.values()) == 11386


def test_judged_query_without_text_is_dropped_with_a_warning(tmp_path: Path) -> None:
    folder = write_msmarco(tmp_path / "msmarco")
    with (folder / "qrels.dev.tsv").open("a", encoding="utf-8") as handle:
        handle.write("q9 0 1 1\nq1 0 999 1\n")
    collection = load_collection(folder, "dev")
    assert "q9" not in collection.qrels
    assert collection.qrels["q1"]["999"] == 1  # kept: relevant, never retrievable
    assert len(collection.warnings) == 2
    assert "1 judged query id(s) have no query text" in collection.warnings[0]
    assert "1 judged doc id(s) are not in the corpus" in collection.warnings[1]
