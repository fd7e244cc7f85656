"""The plot's layout, computed in Python: on the committed quickstart's rows, on every axis and
at the HTML page's size, every point is labelled and no label meets another label or a point
(the browser test checks the same boxes as chromium draws them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kdbench.report.plot import POINT_RADIUS, Box, layout
from kdbench.report.rows import AXES, load_results, rows_from_results

QUICKSTART = Path(__file__).parents[2] / "results" / "runs" / "quickstart-2026-12-01"


# qps: these results predate the server scenario, so no row has a point on that axis.
@pytest.mark.parametrize("x", [axis for axis in AXES if axis != "qps"])
@pytest.mark.parametrize("size", [(760, 460), (960, 540)])
def test_quickstart_labels_never_overlap(x: str, size: tuple[int, int], tmp_path: Path) -> None:
    (tmp_path / "results.json").write_bytes((QUICKSTART / "results.json").read_bytes())
    results = load_results([tmp_path])
    rows = rows_from_results(results, x=x)
    found = layout(rows, x, "nDCG@10", size)
    assert len(found.points) == 10
    named = {label.anchor for label in found.labels}
    assert all((px, py) in named for _, px, py in found.points)  # every point labelled
    boxes = [label.box for label in found.labels]
    for i, a in enumerate(boxes):
        assert not any(a.overlaps(b, gap=0) for b in boxes[i + 1 :]), found.labels[i].text
    dots = [
        Box(px - POINT_RADIUS, py - POINT_RADIUS, 2 * POINT_RADIUS, 2 * POINT_RADIUS)
        for _, px, py in found.points
    ]
    for label in found.labels:
        assert not any(label.box.overlaps(dot, gap=0) for dot in dots), label.text
        assert label.box.x + label.box.width <= found.width  # inside the picture
