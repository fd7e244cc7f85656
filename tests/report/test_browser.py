"""The HTML report in a real headless browser (Debian's chromium): table and plot are rendered."""

from __future__ import annotations

import shutil
import subprocess
import zlib
from pathlib import Path

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
    assert '<table id="tradeoff-table">' in dom
    assert dom.count('class="point"') == 2
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*common, f"--screenshot={shot}", "--window-size=1400,1200", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.exists() and png_pixels_vary(shot.read_bytes())
