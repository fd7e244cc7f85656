"""`--index-size` as a list: one query cell per size, the searched bytes recorded per cell."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kdbench.config import load_profile
from kdbench.errors import UserError
from kdbench.profile.config import ProfileConfig
from tests.profile.conftest import ProfileScifact


def test_each_index_size_is_a_cell_of_its_own(profile_scifact: ProfileScifact) -> None:
    # SciFact has 5,183 passages: 6,000 repeats some of their vectors
    out = profile_scifact(arch="dot", scenario="query", index_size="100,300,6000", seq_len=16)
    result = json.loads(out.read_text())
    cells = result["results"]
    assert [c["index_size"] for c in cells] == [100, 300, 6000]
    # fp32 vectors of the tiny BERT's 32 dimensions
    assert [c["memory"]["index_mib"] * 2**20 for c in cells] == [
        n * 32 * 4 for n in (100, 300, 6000)
    ]
    assert all(c["status"] == "ok" and c["latency_ms"]["n"] >= 3 for c in cells)
    scenario = result["scenario"]
    assert (
        scenario["index"] == "100, 300, 6000 eager fp32 passage vectors (5183 distinct, repeated)"
    )
    assert scenario["index_encode"]["passages"] == 5183
    assert scenario["index_encode"]["passages_per_s"] > 0
    assert result["config"]["index_size"] == [100, 300, 6000]


def test_one_index_size_still_works(profile_scifact: ProfileScifact) -> None:
    out = profile_scifact(arch="dot", scenario="query", index_size=200, seq_len=16)
    (cell,) = json.loads(out.read_text())["results"]
    assert cell["index_size"] == 200


def test_a_library_caller_may_pass_one_size(tiny_bert_dir: Path) -> None:
    config = ProfileConfig(model=str(tiny_bert_dir), index_size=1000)  # type: ignore[arg-type]
    assert config.index_size == (1000,)
    with pytest.raises(UserError, match="--index-size: must be at least 1, got 0"):
        ProfileConfig(model=str(tiny_bert_dir), index_size=(1000, 0))


def _profile_with(tmp_path: Path, line: str) -> Path:
    repo = Path(__file__).resolve().parents[2]
    text = (repo / "profiles/quickstart.toml").read_text()
    path = tmp_path / "p.toml"
    replaced = re.sub(r"^index_size = \d+", line, text, count=1, flags=re.MULTILINE)
    assert replaced != text  # the shipped profile sets one size
    path.write_text(replaced)
    return path


def test_a_profile_takes_one_size_or_a_list(tmp_path: Path) -> None:
    assert load_profile(_profile_with(tmp_path, "index_size = 1000")).profile.index_size == (1000,)
    swept = load_profile(_profile_with(tmp_path, 'index_size = [1000, "5k", "1.5M"]'))
    assert swept.profile.index_size == (1000, 5000, 1_500_000)  # the quantity grammar, per item
    # [100, 200] is two sizes: each list item is read alone, never joined into "100,200"
    assert load_profile(_profile_with(tmp_path, "index_size = [100, 200]")).profile.index_size == (
        100,
        200,
    )
    with pytest.raises(UserError, match=r"profile.index_size: 'big': not a quantity"):
        load_profile(_profile_with(tmp_path, 'index_size = "big"'))
    with pytest.raises(UserError, match=r"profile.index_size\[1\]: 'x'"):
        load_profile(_profile_with(tmp_path, 'index_size = [1000, "x"]'))
    with pytest.raises(UserError, match=r"profile.index_size\[1\]: '0': must be at least 1"):
        load_profile(_profile_with(tmp_path, "index_size = [1000, 0]"))
    with pytest.raises(UserError, match=r"profile.index_size: '1,5M': reads as a number written"):
        load_profile(_profile_with(tmp_path, 'index_size = "1,5M"'))


def test_the_command_line_reads_sizes_by_the_quantity_grammar(tiny_bert_dir: Path) -> None:
    from kdbench.commands.options import Settings

    settings = Settings(ProfileConfig)
    values = {"model": str(tiny_bert_dir)}
    defaults = {p.name: p.default.default for p in settings.parameters()}
    built = settings.build({**defaults, **values, "index_size": "50k, 100k", "depths": "1k"})
    assert built.index_size == (50_000, 100_000) and built.depths == (1000,)
    for text, why in (
        ("1,5M", "decimal comma"),
        ("8,841,823", "thousands commas"),
        ("1..5", "more than one decimal point"),
        ("inf", "not a finite number"),
        ("1" * 30, "too large"),
    ):
        with pytest.raises(UserError, match=f"^--index-size: .*{why}.*; write "):
            settings.build({**defaults, **values, "index_size": text})
    # depths, batch sizes and lengths are small counts: a comma separates, unless a thousands
    # group follows it (no list item starts with 0); index sizes refuse both readings
    built = settings.build({**defaults, **values, "depths": "10,100", "batch_sizes": "1,32"})
    assert built.depths == (10, 100) and built.batch_sizes == (1, 32)
    with pytest.raises(UserError, match=r"^--batch-size: '1,024': .*thousands commas"):
        settings.build({**defaults, **values, "batch_sizes": "1,024"})
    with pytest.raises(UserError, match=r"^--index-size: '10,100': .*thousands commas"):
        settings.build({**defaults, **values, "index_size": "10,100"})
