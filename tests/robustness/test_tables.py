"""Terminal tables stay readable at 80 columns: every header and every cell shown whole.

Rendered from the real results kept in results/ (a profile, an evaluation, a `kdbench run`
report). At 80 columns a wide table is split into parts that repeat its key columns; in a
very narrow terminal each row becomes a vertical list. `--format` files never depend on
the terminal's width.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from rich.text import Text

from kdbench.cli import main
from kdbench.commands.evaluate import metrics_table
from kdbench.commands.train import teacher_report_table
from kdbench.evaluate.result import EvaluateResult
from kdbench.profile.measurements import ProfileResult
from kdbench.profile.render import _cell_row, profile_table
from kdbench.report import report_meta
from kdbench.report.render import table_cells, to_terminal
from kdbench.report.rows import display_labels, load_results, rows_from_results
from kdbench.terminal import fit_table

RESULTS = Path(__file__).parents[2] / "results"
PROFILE = RESULTS / "profile" / "cpu-minilm-prettr-vs-cat-rerank.json"
EVALUATION = RESULTS / "foundation" / "scifact-minilm-colbert-rerank-bm25.json"
RUN = RESULTS / "runs" / "quickstart-2026-11-27"
QUICKSTART = RESULTS / "runs" / "quickstart-2026-12-01"


def render(renderable: Any, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def plain(cell: str) -> str:
    return Text.from_markup(cell).plain


def assert_readable(text: str, headers: list[str], cells: list[str], width: int) -> None:
    """Nothing wider than `width`, nothing cut ("…"), each header and cell whole on a line."""
    lines = text.splitlines()
    assert max(len(line) for line in lines) <= width
    assert "…" not in text
    # Whole, between the table's rules: "│ 1,234.56 │" or a header "┃ p50 ms ┃".
    found = {piece.strip() for line in lines for piece in re.split(r"[│┃]", line)}
    # Prose wider than half the terminal may wrap at its words, each word whole and in order.
    words = " ".join(piece.strip() for line in lines for piece in re.split(r"[│┃]", line))
    missing = [
        c
        for c in [*headers, *map(plain, cells)]
        if c not in found and not (len(c) > width // 2 and _in_order(c.split(), words.split()))
    ]
    assert missing == [], f"cut or missing: {missing}\n{text}"


def _in_order(words: list[str], text: list[str]) -> bool:
    """Every one of `words` appears whole in `text`, in this order."""
    rest = iter(text)
    return all(any(word == seen for seen in rest) for word in words)


def _profile_parts() -> tuple[dict[str, Any], list[str], list[str]]:
    result = json.loads(PROFILE.read_text())
    cells = ProfileResult.from_dict(result).cells
    baseline = any(c.vs_baseline for c in cells)
    rows = [_cell_row(cell, with_baseline=baseline) for cell in cells]
    wide = render(profile_table(ProfileResult.from_dict(result), width=400), 400)
    headers = [h.strip() for h in wide.splitlines()[2].split("┃") if h.strip()]
    return result, headers, [cell for row in rows for cell in row]


@pytest.mark.parametrize("width", [80, 40])
def test_profile_table(width: int) -> None:
    result, headers, cells = _profile_parts()
    assert headers[0] == "backend" and headers[-1] == "ΔnDCG@10" and len(headers) >= 12
    table = profile_table(ProfileResult.from_dict(result), width=width)
    assert_readable(render(table, width), headers, cells, width)


def test_evaluate_table() -> None:
    result = json.loads(EVALUATION.read_text())
    cells = [f"{value:.4f}" for value in result["metrics"].values()]
    table = metrics_table(EvaluateResult.from_dict(result), width=80)
    assert_readable(render(table, 80), list(result["metrics"]), cells, 80)


def test_report_table_all_columns() -> None:
    results = load_results([RUN])
    rows = rows_from_results(results)
    meta = dataclasses.replace(report_meta(results, "quickstart"), columns="all")
    headers, body = table_cells(rows, meta)
    text = to_terminal(rows, meta, width=80)
    assert_readable(text, headers, [cell for row in body for cell in row], 80)
    assert text.count("┃ model ") > 1  # split, each part naming its rows


def compact_report(width: int, tmp_path: Path) -> tuple[str, list[Any]]:
    """The terminal report of the committed quickstart (2026-12-01), from a copy in tmp_path."""
    folder = tmp_path / "quickstart"
    folder.mkdir()
    (folder / "results.json").write_bytes((QUICKSTART / "results.json").read_bytes())
    results = load_results([folder])
    rows = rows_from_results(results)
    meta = dataclasses.replace(report_meta(results, "quickstart"), columns="compact")
    return to_terminal(rows, meta, width=width), rows


def test_compact_report_table_fits_100_columns_one_line_per_row(tmp_path: Path) -> None:
    text, rows = compact_report(100, tmp_path)
    table = text.split("\nmodel · backend · precision: ")[0].split("precision")[1].splitlines()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert sum("╇" in line for line in text.splitlines()) == 1  # one table, not split
    measured = [r for r in rows if not r.reference]
    body = [line for line in table if "│" in line]
    assert len(body) == len(measured) == 10  # one line per measured artifact, no wrapping
    for line, name in zip(body, display_labels(measured), strict=True):
        assert line.startswith(f" {name} ")
    assert "(published" not in "\n".join(table)  # published rows: a block of their own
    assert "- BM25: nDCG@10 0.665 (published: BEIR, Anserini multifield)" in text
    # ... and the report ends with its conclusion
    conclusion = text.split("\nConclusion (nDCG@10 against p50):\n")[1]
    assert conclusion.startswith("- Pareto front, cheapest first: bm25 · bm25s · fp32")


def test_compact_report_table_makes_room_for_max_qps(tmp_path: Path) -> None:
    """With the server scenario's column (every dense row served under load), the compact
    table still fits 100 columns, one line per row: its headers fold onto two lines."""
    folder = tmp_path / "quickstart"
    folder.mkdir()
    (folder / "results.json").write_bytes((QUICKSTART / "results.json").read_bytes())
    results = load_results([folder])
    rows = rows_from_results(results)
    for row in rows:
        if row.arch == "dot" and not row.reference:
            row.max_qps, row.qps_bound = 1234.5, "p99<=50ms"
    meta = dataclasses.replace(report_meta(results, "quickstart"), columns="compact")
    text = to_terminal(rows, meta, width=100)
    table = text.split("\nmodel · backend · precision: ")[0].split("precision")[1].splitlines()
    assert max(len(line) for line in text.splitlines()) <= 100
    assert sum("╇" in line for line in text.splitlines()) == 1
    body = [line for line in table if "│" in line]
    assert len(body) == sum(not r.reference for r in rows)
    assert sum("1,234" in line for line in body) == 8  # the dense rows' max QPS
    head = text.split("━╇━")[0]
    assert "max QPS @" in head and "p99<=50ms" in head  # its header, folded


def test_train_table() -> None:
    report = {
        "sample": 256,
        "student_before": {"pairwise_accuracy": 0.5, "margin": {"std": 0.25}},
        "student_after": {"pairwise_accuracy": 0.75, "margin": {"std": 1.5}},
        "teacher": {"pairwise_accuracy": 0.875, "margin": {"std": 3.0}},
    }
    text = render(teacher_report_table(report, 80), 80)
    cells = ["student before (256 triples)", "50.0%", "0.25", "75.0%", "87.5%", "3"]
    assert_readable(text, ["scorer", "pairwise accuracy", "margin std"], cells, 80)


def test_a_table_that_fits_stays_one_table() -> None:
    from kdbench.terminal import Column

    text = render(fit_table("t", [Column("a", key=True), Column("b")], [["1", "2"]], 80), 80)
    assert text.count("┃ a ┃ b ┃") == 1


def test_format_files_do_not_depend_on_the_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written = {}
    for columns in ("40", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        for fmt in ("markdown", "csv", "json", "html"):
            out = tmp_path / f"{columns}.{fmt}"
            assert main(["report", str(RUN), "--format", fmt, "--output", str(out)]) == 0
            written[columns, fmt] = out.read_text()
    for fmt in ("markdown", "csv", "json", "html"):
        assert written["40", fmt] == written["200", fmt]
