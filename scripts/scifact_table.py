"""The SciFact study's choices and tables (scripts/scifact_study.sh calls it).

    python scripts/scifact_table.py choose ROOT SEARCH_SEED "STUDENTS" "RECIPES"
    python scripts/scifact_table.py table ROOT "SEEDS" "STUDENTS"

`choose` reads only training summaries (dev-slice validation): the recipe per student with the best
dev nDCG@10 on the search seed -> ROOT/choices.json. `table` reads the test evaluations and writes
ROOT/summary.json and ROOT/table.md: per student and seed, no teacher vs the chosen distillation,
paired over test queries (t-test with its 95% CI, a paired bootstrap 95% CI, Holm-adjusted p over
the per-seed comparisons); and per student over every seed that finished both models ("pooled"):
each test query's score averaged over the seeds, no teacher vs distilled paired over the queries,
Holm over the students. The pooled comparison is the study's answer; each seed alone shows
whether the seeds agree.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from kdbench.report.significance import holm, paired_test

MEASURES = ("nDCG@10", "RR@10")


def _load(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.exists() else None


def _dev(train: dict[str, Any] | None) -> float | None:
    best = (train or {}).get("best") or {}
    return best.get("nDCG@10")


def _recipe_devs(root: Path, seed: str, student: str, recipes: list[str]) -> dict[str, float]:
    """Dev nDCG@10 of every recipe `student` was trained with on the search seed."""
    folder = root / f"seed{seed}" / "train"
    devs = {r: _dev(_load(folder / f"{student}-{r}.json")) for r in recipes}
    return {r: d for r, d in devs.items() if d is not None}


def rank(root: Path, seed: str, student: str, recipes: list[str], top: int) -> None:
    """The `top` recipes of `student` by dev nDCG@10 (the other students' search list)."""
    devs = _recipe_devs(root, seed, student, recipes)
    if len(devs) < len(recipes):
        sys.exit(f"rank: {student}: not every recipe has finished")
    print(" ".join(sorted(devs, key=lambda r: (-devs[r], recipes.index(r)))[:top]))


def choose(root: Path, seed: str, students: list[str], recipes: list[str]) -> None:
    choices: dict[str, Any] = {
        "seed": int(seed),
        "rule": "best dev nDCG@10 (best checkpoint) among the recipes the student was trained with",
    }
    per_student = {}
    for student in students:
        devs = _recipe_devs(root, seed, student, recipes)
        if not devs:
            sys.exit(f"choose: {student}: no finished distillation on seed {seed}")
        baseline = _dev(_load(root / f"seed{seed}" / "train" / f"{student}-ranknet.json"))
        chosen = max(devs, key=lambda r: (devs[r], -recipes.index(r)))
        per_student[student] = {
            "dev_nDCG@10": devs,
            "no_teacher_dev_nDCG@10": baseline,
            "chosen": chosen,
        }
    choices["students"] = per_student
    (root / "choices.json").write_text(json.dumps(choices, indent=2) + "\n")
    print(json.dumps(choices, indent=2))


def _compare(base: dict[str, Any], other: dict[str, Any], measure: str) -> dict[str, Any]:
    return _paired(base["per_query"][measure], other["per_query"][measure])


def _seed_mean(results: list[dict[str, Any]], measure: str) -> dict[str, float]:
    """Each query's score averaged over the seeds' results (every seed judges the same queries)."""
    qids = sorted(results[0]["per_query"][measure])
    if any(sorted(r["per_query"][measure]) != qids for r in results):
        sys.exit("table: the seeds' test evaluations do not cover the same queries")
    return {q: sum(r["per_query"][measure][q] for r in results) / len(results) for q in qids}


def _paired(a: dict[str, float], b: dict[str, float]) -> dict[str, Any]:
    """No teacher (a) vs distilled (b), per query; the means are over the queries."""
    qids = sorted(a)
    test = paired_test([b[q] for q in qids], [a[q] for q in qids])
    no_teacher, distilled = (sum(x[q] for q in qids) / len(qids) for x in (a, b))
    return {
        "no_teacher": no_teacher,
        "distilled": distilled,
        "delta": distilled - no_teacher,
        "t": test.t,
        "p": test.p_value,
        "ci95_t": list(test.ci95_t),
        "ci95_bootstrap": list(test.ci95_bootstrap),
        "queries": test.queries,
    }


def table(root: Path, seeds: list[str], students: list[str]) -> None:
    choices = _load(root / "choices.json") or {"students": {}}
    pairs: list[dict[str, Any]] = []
    compared: dict[tuple[str, int], tuple[dict[str, Any], dict[str, Any]]] = {}
    for student in students:
        recipe = choices["students"].get(student, {}).get("chosen")
        for seed in seeds:
            folder = root / f"seed{seed}"
            base, other = (
                _load(folder / f"{student}-ranknet.json"),
                _load(folder / f"{student}-{recipe}.json"),
            )
            if not (recipe and base and other):
                continue
            pair = {
                "student": student,
                "seed": int(seed),
                "recipe": recipe,
                "dev_nDCG@10": {
                    "no_teacher": _dev(_load(folder / "train" / f"{student}-ranknet.json")),
                    "distilled": _dev(_load(folder / "train" / f"{student}-{recipe}.json")),
                },
            }
            pair.update({m: _compare(base, other, m) for m in MEASURES})
            pairs.append(pair)
            compared[student, int(seed)] = (base, other)
    pooled = []
    for student in students:
        done = [p for p in pairs if p["student"] == student]
        if len(done) < 2:
            continue
        runs = [compared[student, p["seed"]] for p in done]
        entry: dict[str, Any] = {
            "student": student,
            "seeds": [p["seed"] for p in done],
            "recipe": done[0]["recipe"],
        }
        for m in MEASURES:
            entry[m] = _paired(
                _seed_mean([base for base, _ in runs], m),
                _seed_mean([other for _, other in runs], m),
            )
        pooled.append(entry)
    for family in (pairs, pooled):
        for measure in MEASURES:
            adjusted = holm([entry[measure]["p"] for entry in family]) if family else []
            for entry, p in zip(family, adjusted, strict=True):
                entry[measure]["p_holm"] = p
    teachers = {}
    for seed in seeds:
        folder = root / f"seed{seed}"
        reports = {}
        for name in ("cat", "dot6", "colbert", "bm25", "ensemble"):
            result = _load(folder / f"teacher-{name}.tsv.json")
            if result:
                reports[name] = result["teacher_report"]
        teacher_test = _load(folder / "teacher-cat.json")
        teachers[seed] = {
            "reports": reports,
            "cat_test_nDCG@10": teacher_test["metrics"]["nDCG@10"] if teacher_test else None,
        }
    refs = {
        name: (_load(root / "refs" / f"{name}.json") or {}).get("metrics")
        for name in ("bm25", "minilm-zero-shot")
    }
    summary = {
        "choices": choices,
        "pooled": pooled,
        "pairs": pairs,
        "teachers": teachers,
        "references": refs,
    }
    (root / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (root / "table.md").write_text(_markdown(summary) + "\n")
    print(_markdown(summary))


def _interval(m: dict[str, Any]) -> str:
    return (
        f"{m['delta']:+.3f} ({m['ci95_t'][0]:+.3f}, {m['ci95_t'][1]:+.3f}; "
        f"{m['ci95_bootstrap'][0]:+.3f}, {m['ci95_bootstrap'][1]:+.3f})"
    )


def _markdown(summary: dict[str, Any]) -> str:
    lines = []
    if summary["pooled"]:
        lines += [
            "Per student, seeds pooled (each test query's nDCG@10 averaged over the seeds; Holm "
            "over the students):",
            "",
            "| student | seeds | recipe | test nDCG@10 no teacher → distilled "
            "| Δ (95% CI t; bootstrap) | p (Holm) |",
            "|---|---|---|---|---|---|",
        ]
        for entry in summary["pooled"]:
            m = entry["nDCG@10"]
            lines.append(
                f"| {entry['student']} | {', '.join(map(str, entry['seeds']))} | {entry['recipe']} "
                f"| {m['no_teacher']:.3f} → {m['distilled']:.3f} | {_interval(m)} "
                f"| {m['p']:.2g} ({m['p_holm']:.2g}) |"
            )
        lines += ["", "Per seed (Holm over these rows):", ""]
    lines += [
        "| student | seed | recipe | dev nDCG@10 no teacher → distilled | test nDCG@10 no teacher → distilled "
        "| Δ (95% CI t; bootstrap) | p (Holm) |",
        "|---|---|---|---|---|---|---|",
    ]
    for pair in summary["pairs"]:
        m, dev = pair["nDCG@10"], pair["dev_nDCG@10"]
        lines.append(
            f"| {pair['student']} | {pair['seed']} | {pair['recipe']} | {dev['no_teacher']:.3f} → {dev['distilled']:.3f} "
            f"| {m['no_teacher']:.3f} → {m['distilled']:.3f} | {_interval(m)} "
            f"| {m['p']:.2g} ({m['p_holm']:.2g}) |"
        )
    students = summary["choices"]["students"]
    recipes = list(dict.fromkeys(r for c in students.values() for r in c["dev_nDCG@10"]))
    lines += [
        "",
        f"Dev-slice choice (seed {summary['choices'].get('seed')}): dev nDCG@10 per recipe "
        "(– not tried)",
        "",
        "| student | no teacher | " + " | ".join(recipes) + " | chosen |",
        "|---|---|" + "---|" * (len(recipes) + 1),
    ]
    for student, choice in students.items():
        devs = " | ".join(
            f"{choice['dev_nDCG@10'][r]:.3f}" if r in choice["dev_nDCG@10"] else "–"
            for r in recipes
        )
        lines.append(
            f"| {student} | {choice['no_teacher_dev_nDCG@10']:.3f} | {devs} | {choice['chosen']} |"
        )
    lines += [
        "",
        "Teachers on each seed's training triples and dev slice (BM25 top 30 re-ranked):",
        "",
        "| seed | teacher | pairwise accuracy | contradicted pairs | dev nDCG@10 | ensemble weight |",
        "|---|---|---|---|---|---|",
    ]
    for seed, info in summary["teachers"].items():
        weights = {}
        ensemble = info["reports"].get("ensemble")
        if ensemble:
            weights = {
                Path(m["scores"]).name.removeprefix("teacher-").removesuffix(".tsv"): m["weight"]
                for m in ensemble["members"]
            }
        for name, rep in info["reports"].items():
            dev = f"{rep['dev']['nDCG@10']:.3f}" if rep.get("dev") else "–"
            if name == "ensemble":
                dev += " (weights fitted on it)"
            weight = f"{weights[name]:.1f}" if name in weights else "–"
            lines.append(
                f"| {seed} | {name} | {rep['pairwise_accuracy']:.1%} | {rep.get('contradicted', '–')} "
                f"| {dev} | {weight} |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    mode, root = sys.argv[1], Path(sys.argv[2])
    if mode == "rank":
        rank(root, sys.argv[3], sys.argv[4], sys.argv[5].split(), int(sys.argv[6]))
    elif mode == "choose":
        choose(root, sys.argv[3], sys.argv[4].split(), sys.argv[5].split())
    elif mode == "table":
        table(root, sys.argv[3].split(), sys.argv[4].split())
    else:
        sys.exit(f"unknown mode {mode}; use rank, choose or table")
