"""The HTML report in a real headless browser (Debian's chromium): table and plot are rendered."""

from __future__ import annotations

import shutil
import subprocess
import zlib
from pathlib import Path
from typing import Any

import pytest

from kdbench.report import write_report
from kdbench.results import save_result
from tests.report.test_report import evaluate_result, profile_result

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)"
    ),
]


def png_pixels_vary(png: bytes) -> bool:
    """True when the screenshot is not one flat colour (decodes the PNG's IDAT with zlib)."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    data, pos = b"", 8
    while pos < len(png):
        length = int.from_bytes(png[pos : pos + 4], "big")
        kind = png[pos + 4 : pos + 8]
        if kind == b"IDAT":
            data += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(data)
    return len(set(raw[1000:200000])) > 10


def test_report_renders_in_chromium(tmp_path: Path) -> None:
    results = tmp_path / "results"
    save_result(results / "e.json", evaluate_result("dot-l2", "dot", 0.61, 0.55))
    save_result(
        results / "p.json",
        profile_result("dot-l2", "dot", [("eager", 12.0, 80.0), ("onnx", 4.0, 200.0)]),
    )
    page = tmp_path / "report.html"
    write_report([results], "html", page)
    profile_dir = tmp_path / "chrome-profile"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={profile_dir}"]
    dom = subprocess.run(
        [*common, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert '<table id="tradeoff-table" class="sortable">' in dom
    assert dom.count('class="point"') == 2
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1400,1200", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.exists() and png_pixels_vary(shot.read_bytes())


QUICKSTART = Path(__file__).parents[2] / "results" / "runs" / "quickstart-2026-12-01"


def quickstart_page(tmp_path: Path) -> Path:
    """report.html of the committed quickstart run (2026-12-01), from a copy in tmp_path."""
    folder = tmp_path / "quickstart"
    folder.mkdir()
    (folder / "results.json").write_bytes((QUICKSTART / "results.json").read_bytes())
    page = tmp_path / "report.html"
    write_report([folder], "html", page)
    return page


def probe(page: Path, script: str, width: int, tmp_path: Path) -> Any:
    """Run `script` (JS that returns a JSON-able value) in `page` at `width` px in chromium,
    after the page's own script; its value, read back from the dumped DOM."""
    import html
    import json
    import re

    probe_page = page.with_name(f"probe-{width}.html")
    wrapped = (
        '<script>(function () { const out = document.createElement("pre"); out.id = "probe"; '
        f"out.textContent = JSON.stringify((function () {{ {script} }})()); "
        "document.body.appendChild(out); })();</script>"
    )
    probe_page.write_text(page.read_text().replace("</body>", wrapped + "</body>"))
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"]
    dom = subprocess.run(
        [*common, f"--window-size={width},1000", "--dump-dom", probe_page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    return json.loads(html.unescape(found.group(1)))


LAYOUT_SCRIPT = """
const box = e => e.getBoundingClientRect();
const table = document.getElementById("tradeoff-table");
const labels = [...document.querySelectorAll("#tradeoff-plot text.label")].map(t => {
  const b = t.getBBox();
  return {text: t.textContent, x: b.x, y: b.y, width: b.width, height: b.height};
});
return {inner: window.innerWidth, page: document.documentElement.scrollWidth,
        tableRight: box(table).right, tableScroll: table.scrollWidth,
        tableClient: table.clientWidth, plot: box(document.getElementById("tradeoff-plot")),
        conclusionTop: box(document.getElementById("conclusion")).top,
        tableTop: box(table).top, labels: labels,
        points: document.querySelectorAll("#tradeoff-plot circle.point").length};
"""


def assert_apart(boxes: list[dict[str, Any]]) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            )
            assert apart, (a["text"], b["text"])


@pytest.mark.parametrize("width", [1280, 800])
def test_quickstart_report_reads_at_1280_and_800_px(width: int, tmp_path: Path) -> None:
    """The committed quickstart's report.html in chromium: the plot first (at least 900 px
    wide at 1280), every point labelled with no two labels overlapping, the compact table
    inside the window (no horizontal scrolling, of it or of the page); a screenshot."""
    page = quickstart_page(tmp_path)
    facts = probe(page, LAYOUT_SCRIPT, width, tmp_path)
    assert facts["inner"] == width
    assert facts["plot"]["top"] < facts["conclusionTop"] < facts["tableTop"]  # plot first
    if width >= 1280:
        assert facts["plot"]["width"] >= 900
    assert facts["plot"]["right"] <= width
    assert facts["page"] <= width  # no horizontal scrollbar on the page
    assert facts["tableRight"] <= width and facts["tableScroll"] <= facts["tableClient"] + 1
    assert facts["points"] == 10 and len(facts["labels"]) >= 10  # + the published lines'
    assert_apart(facts["labels"])
    shot = tmp_path / f"shot-{width}.png"
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"]
    subprocess.run(
        [*common, f"--screenshot={shot}", f"--window-size={width},1400", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.exists() and png_pixels_vary(shot.read_bytes())


SORT_SCRIPT = """
const table = document.getElementById("tradeoff-table");
const heads = [...table.tHead.rows[0].cells];
const column = heads.findIndex(th => th.textContent === "p50 ms");
const order = () => [...table.tBodies[0].rows].map(r => r.cells[column].getAttribute("data-v"));
heads[column].click();
const up = order();
heads[column].click();
return {up: up, down: order(), sorted: heads[column].getAttribute("aria-sort")};
"""


def test_compact_table_sorts_by_a_column_in_chromium(tmp_path: Path) -> None:
    found = probe(quickstart_page(tmp_path), SORT_SCRIPT, 1280, tmp_path)
    up = [float(v) for v in found["up"] if v is not None]
    down = [float(v) for v in found["down"] if v is not None]
    assert len(up) == 10 and up == sorted(up) and down == sorted(up, reverse=True)
    assert found["sorted"] == "descending"


HOVER_SCRIPT = """
const point = [...document.querySelectorAll("#tradeoff-plot circle.point")].find(
  c => c.querySelector("title").textContent.startsWith("teacher-cat-L6"));
point.dispatchEvent(new MouseEvent("mouseenter"));
const tip = document.getElementById("point-tip");
const row = document.querySelector('#tradeoff-table tr[data-row="' + point.dataset.row + '"]');
return {shown: tip.style.display, tip: tip.textContent, row: row.textContent,
        hovered: row.classList.contains("hovered")};
"""


def test_hovering_a_point_shows_its_row_in_chromium(tmp_path: Path) -> None:
    found = probe(quickstart_page(tmp_path), HOVER_SCRIPT, 1280, tmp_path)
    assert found["shown"] == "block" and found["hovered"]
    assert "teacher-cat-L6 · eager · fp32" in found["tip"] and "0.604‡" in found["tip"]
    assert "3,509*" in found["tip"]  # the row's cells, marks included


BOXES_SCRIPT = """<script>
const boxes = [...document.querySelectorAll("#tradeoff-plot text.label")].map(t => {
  const b = t.getBBox();
  return {text: t.textContent, x: b.x, y: b.y, width: b.width, height: b.height,
          planned: t.dataset.box.split(" ").map(Number)};
});
const out = document.createElement("pre");
out.id = "label-boxes";
out.textContent = JSON.stringify(boxes);
document.body.appendChild(out);
</script>"""


def quickstart_like(folder: Path) -> None:
    """BM25, a zero-shot model, a teacher re-ranking BM25, and two students on eager, onnx and
    onnx:int8 with close latencies and qualities: labels that would collide if drawn in place."""
    from tests.report.test_first_stage import bm25_results, reranker
    from tests.report.test_quality import evaluation, profiled

    results = [*bm25_results(0.3), *reranker("teacher", 420.0)]
    for index, label in enumerate(("zero-shot", "dot-L2-margin-mse", "dot-L2-no-teacher")):
        ndcg = 0.40 + 0.006 * index
        results += [evaluation(label, ndcg), evaluation(label, ndcg - 0.004, "onnx", "int8")]
        variants = [("eager", "fp32", True), ("onnx", "fp32", True), ("onnx", "int8", True)]
        profile = profiled(label, variants)
        for cell, p50 in zip(profile["results"], (3.0, 1.0, 0.6), strict=True):
            cell["latency_ms"]["p50"] = p50 * (1 + 0.03 * index)
        results.append(profile)
    for index, result in enumerate(results):
        save_result(folder / f"{index:02}.json", result)


def test_quickstart_plot_labels_never_overlap_in_chromium(tmp_path: Path) -> None:
    from kdbench.report import View

    results = tmp_path / "results"
    quickstart_like(results)
    page = tmp_path / "report.html"
    for x in ("p50", "p95", "throughput", "memory"):
        write_report([results], "html", page, view=View(x=x))
    write_report([results], "html", page)
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", BOXES_SCRIPT + "</body>"))
    common = [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"]
    dom = subprocess.run(
        [*common, "--dump-dom", probe.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    import html
    import json
    import re

    found = re.search(r'<pre id="label-boxes">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    boxes = json.loads(html.unescape(found.group(1)))
    points = dom.count('class="point"')
    assert points == 11 and len(boxes) >= points  # every point labelled (+ references)
    for box in boxes:
        left, top, width, height = box["planned"]
        # the browser draws each label inside the box the layout kept free for it
        assert left - 1 <= box["x"] and box["x"] + box["width"] <= left + width + 1, box
        assert top - 2 <= box["y"] and box["y"] + box["height"] <= top + height + 2, box
    assert_apart(boxes)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1400,1200", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.exists() and png_pixels_vary(shot.read_bytes())
