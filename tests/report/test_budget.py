"""Budgets (kdbench.report.budget): parsing with units, and the choice on hand-made rows."""

from __future__ import annotations

import csv
import html
import io
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kdbench.config import load_profile
from kdbench.errors import UserError
from kdbench.report.budget import check_columns, decide, parse_budget
from kdbench.report.rows import Row


def row(
    label: str, quality: float | None, p95: float | None, memory: float = 100.0, **more: object
) -> Row:
    made = Row(
        label=label,
        arch="dot",
        metrics={} if quality is None else {"nDCG@10": quality},
        backend="eager",
        device="cpu",
        precision="fp32",
        scenario="query",
        batch_size=1,
        seq_len=32,
        p50_ms=None if p95 is None else p95 / 1.2,
        p95_ms=p95,
        weights_mib=memory,
        parity="passed",
    )
    for name, value in more.items():
        setattr(made, name, value)
    return made


def test_units_become_the_columns_own() -> None:
    (latency, memory, rate, count, quality) = parse_budget(
        "p95<=250us, memory<=1.5GB, throughput>=2qps, params<=66M, nDCG@10>=0.6"
    )
    assert (latency.column, latency.op, latency.limit) == ("p95", "<=", 0.25)
    assert memory.limit == pytest.approx(1.5e9 / 2**20)
    assert (rate.column, rate.op, rate.limit) == ("throughput", ">=", 2.0)
    assert count.limit == 66e6
    assert (quality.column, quality.limit) == ("nDCG@10", 0.6)
    assert [c.limit for c in parse_budget("p50<1s,memory<=512MiB,index≤2GiB")] == [1000, 512, 2048]


def test_a_quality_name_may_hold_equals_signs_and_commas() -> None:
    (first, second) = parse_budget("P(rel=2,judged_only)@10>=0.2,p95<=5ms")
    assert (first.column, first.op, first.limit) == ("P(rel=2,judged_only)@10", ">=", 0.2)
    assert second.column == "p95"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("p95<=10", "p95 needs a unit (ns, us, µs, ms, s, min); e.g. p95<=10ms"),
        ("memory<=2GiBs", "unit 'gibs' is not one of"),
        ("nDCG@10>=0.6ms", "'nDCG@10' is not a column that takes a unit"),
        # round 4: a decimal or thousands comma is not read as two constraints
        ("p95<=1,5ms", "p95<=1,5ms: a comma separates constraints, it is neither a decimal"),
        ("memory<=1,024MiB,p50<=2ms", "memory<=1,024MiB: a comma separates constraints"),
        ("p99<=5ms", "'p99' is not a column that takes a unit (p50, p95, memory"),
        ("p95 10ms", "cannot read 'p95 10ms'; write COLUMN<=VALUE[UNIT]"),
        (" , ", "names no constraint"),
        # a latency bound in a budget takes its unit as p95<=10ms does
        (
            "qps>=100@p99<=5",
            "the latency bound needs a unit (ns, us, ms, s, min), e.g. qps>=100@p99<=5ms",
        ),
    ],
)
def test_bad_budgets_say_what_to_write(text: str, message: str) -> None:
    with pytest.raises(UserError, match="--budget") as error:
        parse_budget(text)
    assert message in str(error.value)


def test_a_column_no_row_measured_is_refused() -> None:
    with pytest.raises(UserError, match=r"no column 'RR@10'; budgets can constrain p50, p95"):
        check_columns(parse_budget("RR@10>=0.3"), [row("a", 0.4, 3.0)])


ROWS = [
    row("fast-small", 0.40, 3.0),
    row("better-slow", 0.45, 8.0),
    row("better-big", 0.42, 4.0, memory=3000.0),
    row("fastest-weak", 0.30, 1.0, memory=50.0),
    row("broken", 0.50, 1.0, parity="failed: scores differ"),
    row("bm25", 0.68, None, scenario="", backend="", quality_from="bm25s"),
    row("published", 0.70, None, reference="published: BEIR"),
]


def test_the_best_quality_row_inside_every_constraint_is_chosen() -> None:
    decision = decide(ROWS, parse_budget("p95<=5ms,memory<=2GiB"))
    assert decision.chosen is ROWS[0] and decision.runner_up is ROWS[3]
    why = {excluded.label: (kind, reason) for excluded, kind, reason in decision.excluded}
    assert why == {
        "better-slow": ("better", "p95 8 ms > 5 ms (+60%)"),
        "better-big": ("better", "memory 3000 MiB > 2048 MiB (+46%)"),
        "broken": ("better and faster", "failed parity"),
        "bm25": ("better", "p95 not measured"),
    }
    assert [r.budget for r in ROWS] == [
        "chosen",
        "out: p95 8 ms > 5 ms (+60%)",
        "out: memory 3000 MiB > 2048 MiB (+46%)",
        "runner-up",
        "out: failed parity",
        "out: p95 not measured",
        "",
    ]
    assert decision.lines()[1].startswith("- chosen: fast-small (eager, cpu, query batch 1 seq 32)")


def test_a_tie_in_quality_goes_to_the_lower_p50() -> None:
    slow, quick = row("m", 0.4, 4.0, backend="eager"), row("m", 0.4, 2.0, backend="onnx")
    assert decide([slow, quick], parse_budget("p95<=5ms")).chosen is quick


def test_none_fits_names_the_closest_miss() -> None:
    decision = decide(ROWS, parse_budget("p95<=0.5ms"))
    assert decision.chosen is None and decision.closest is not None
    closest, by = decision.closest
    assert closest.label == "fastest-weak" and by == "p95 1 ms > 0.5 ms (+100%)"
    assert decision.lines()[0].endswith("no row fits.")
    assert "closest: fastest-weak" in decision.lines()[1]


def test_a_quality_floor_is_a_constraint_too() -> None:
    decision = decide(ROWS, parse_budget("nDCG@10>=0.41,p95<5ms"))
    assert decision.chosen is ROWS[2]  # better-big: memory is not constrained here
    assert decision.runner_up is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0.1, 0.9),
            st.one_of(st.none(), st.floats(0.1, 50)),
            st.floats(1, 5000),
            st.booleans(),
        ),
        min_size=1,
        max_size=8,
    ),
    st.floats(0.1, 50),
    st.floats(1, 5000),
)
def test_the_choice_is_the_best_row_that_fits_by_brute_force(
    made: list[tuple[float, float | None, float, bool]], p95: float, memory: float
) -> None:
    rows = [
        row(f"r{i}", q, p, m, parity="passed" if ok else "failed: x")
        for i, (q, p, m, ok) in enumerate(made)
    ]
    decision = decide(rows, parse_budget(f"p95<={p95}ms,memory<={memory}MiB"))
    inside = [
        r
        for r in rows
        if r.parity == "passed"
        and r.p95_ms is not None
        and r.p95_ms <= p95
        and (r.weights_mib or 0) <= memory
    ]
    if not inside:
        assert decision.chosen is None
        return
    best = max(r.metrics["nDCG@10"] for r in inside)
    assert decision.chosen is not None and decision.chosen.metrics["nDCG@10"] == best
    assert decision.chosen in inside


def _profile_with(tmp_path: Path, section: str) -> Path:
    repo = Path(__file__).resolve().parents[2]
    path = tmp_path / "p.toml"
    path.write_text((repo / "profiles/quickstart.toml").read_text() + "\n[report]\n" + section)
    return path


def test_a_profile_states_its_budget(tmp_path: Path) -> None:
    profile = load_profile(_profile_with(tmp_path, 'budget = "p95<=5ms"\nscale_to = "8.8M"\n'))
    assert (profile.report.budget, profile.report.scale_to) == ("p95<=5ms", "8.8M")
    with pytest.raises(UserError, match=r"p.toml: report.budget 'p95<=5': 'p95<=5': p95 needs"):
        load_profile(_profile_with(tmp_path, 'budget = "p95<=5"\n'))
    as_number = load_profile(_profile_with(tmp_path, "scale_to = 8800000\n"))
    assert as_number.report.scale_to == "8800000"
    with pytest.raises(UserError, match=r"report.scale_to: '1,5M': a comma"):
        load_profile(_profile_with(tmp_path, 'scale_to = "1,5M"\n'))
    with pytest.raises(UserError, match=r"report.scale_to: 'many': not a quantity"):
        load_profile(_profile_with(tmp_path, 'scale_to = "many"\n'))


def test_the_report_stage_hash_is_unchanged_without_a_report_section(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from kdbench.experiment import plan

    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    path = Path("profiles/quickstart.toml")
    stage = next(s for s in plan(load_profile(path), path) if s.name == "report")
    assert set(stage.config) == {"labels", "profiles"}
    budgeted = _profile_with(tmp_path, 'budget = "p95<=5ms"\n')
    rerun = next(s for s in plan(load_profile(budgeted), budgeted) if s.name == "report")
    assert rerun.config["report"] == {"budget": "p95<=5ms"} and rerun.hash != stage.hash


def test_the_report_names_the_choice_in_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from kdbench.cli import main
    from kdbench.results import save_result
    from tests.report.test_report import evaluate_result, profile_result

    folder = tmp_path / "results"
    save_result(folder / "eval-dot.json", evaluate_result("dot-l2", "dot", 0.61, 0.55))
    save_result(folder / "eval-cat.json", evaluate_result("cat-l2", "cat", 0.70, 0.66))
    dot = profile_result("dot-l2", "dot", [("eager", 12.0, 81.0), ("onnx", 4.0, 219.0)])
    save_result(folder / "prof-dot.json", dot)
    save_result(folder / "prof-cat.json", profile_result("cat-l2", "cat", [("eager", 250.0, 4.0)]))
    outputs = {}
    for fmt in ("terminal", "md", "csv", "json", "html"):
        assert main(["report", str(folder), "--budget", "p95<=10ms", "--format", fmt]) == 0
        outputs[fmt] = html.unescape(capsys.readouterr().out)
    # one space for every run of whitespace: the terminal wraps prose at its width
    prose = {fmt: " ".join(text.split()) for fmt, text in outputs.items()}
    chosen = "chosen: dot-l2 (onnx, cpu, query batch 1 seq 128)"
    for fmt in ("terminal", "md", "html"):
        assert chosen in prose[fmt], fmt
        assert (
            "cat-l2 (eager, cpu, query batch 1 seq 128): p95 300 ms > 10 ms (+2900%)" in prose[fmt]
        )
    assert 'data-budget="chosen"' in outputs["html"] and 'data-budget="out"' in outputs["html"]
    assert 'id="budget-region"' not in outputs["html"]  # the plot's x is p50, the budget p95's
    assert main(["report", str(folder), "--budget", "p95<=10ms", "-f", "html", "--x", "p95"]) == 0
    assert 'id="budget-region"' in capsys.readouterr().out
    verdicts = {
        (r["model"], r["backend"]): r["budget"] for r in csv.DictReader(io.StringIO(outputs["csv"]))
    }
    assert (
        verdicts[("dot-l2", "onnx")] == "chosen"
        and verdicts[("dot-l2", "eager")] == "out: p95 14.4 ms > 10 ms (+44%)"
    )
    report = json.loads(outputs["json"])
    assert report["meta"]["budget"]["chosen"] == "dot-l2 (onnx, cpu, query batch 1 seq 128)"
    assert main(["report", str(folder), "--budget", "p95<=1ms"]) == 0
    assert "no row fits" in capsys.readouterr().out


def test_the_shaded_region_is_inside_the_limits_on_the_plots_axes() -> None:
    import re

    from kdbench.report.plot import Axes, Box, budget_region

    # x: 1..100 ms over 200 px (log), y: 0.2..0.6 over 100 px
    axes = Axes(Box(0, 0, 200, 100), 0, 2, 0.2, 0.6)
    constraints = parse_budget("p95<=10ms,nDCG@10>=0.5,memory<=1GiB")
    svg = budget_region(axes, constraints, "p95", "nDCG@10")
    found = re.search(r'x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"', svg)
    assert found is not None
    # left of 10 ms (half way on the log axis), above 0.5 (a quarter down from the top)
    assert [float(v) for v in found.groups()] == [0.0, 0.0, 100.0, 25.0]
    assert "memory" not in svg  # not on these axes
    assert budget_region(axes, constraints, "throughput", "RR@10") == ""
