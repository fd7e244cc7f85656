"""Effectiveness metrics through ir_measures, with one ranking order for every measure.

By default the result keys are "nDCG@10", "RR@10", "R@100", "R@1000", "AP", and `rel` is the
grade at which RR, R and AP count a doc as relevant (TREC-DL: 2); nDCG always uses the
graded qrels. `--measure "nDCG@10 RR(rel=2)@10 R@1000"` (`[evaluate] measures` in a profile)
names the measures instead, as ir_measures strings that carry their own `rel`; each result
key is ir_measures' spelling of the measure.

Two choices keep the numbers equal to trec_eval's:
- ir_measures hands RR@10 to MS MARCO's script, which breaks score ties by doc id ascending,
  while trec_eval breaks them descending. kdbench ranks once (`kdbench.data.runs.ranked`,
  trec_eval's order) and passes rank-derived scores, so every measure sees the same list.
- The mean is over every judged query; a judged query missing from the run scores 0
  (trec_eval -c), so a run cannot look better by leaving hard queries out.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

from kdbench.data.qrels import Qrels
from kdbench.data.runs import Run, ranked
from kdbench.errors import UserError

if TYPE_CHECKING:
    # ir_measures' Measure (named apart from profile.growth's Measure)
    from ir_measures.measures.base import Measure as IrMeasure

MEASURE_NAMES = ("nDCG@10", "RR@10", "R@100", "R@1000", "AP")


def measures(rel: int = 1) -> dict[str, IrMeasure]:
    """Result key -> ir_measures measure, binarised at grade `rel` where the measure binarises."""
    import ir_measures

    if rel < 1:
        raise ValueError(f"rel must be at least 1 (got {rel})")
    return {
        "nDCG@10": ir_measures.nDCG @ 10,
        "RR@10": ir_measures.RR(rel=rel) @ 10,
        "R@100": ir_measures.R(rel=rel) @ 100,
        "R@1000": ir_measures.R(rel=rel) @ 1000,
        "AP": ir_measures.AP(rel=rel),
    }


# pytrec_eval takes cutoffs and relevance grades as C ints; 0 aborts the interpreter there
# (an assertion in its C code: P@0, nDCG@0, R@0, AP@0, Success@0), larger ones overflow.
LARGEST = 2**31 - 1
EXAMPLE = '--measure "nDCG@10 RR(rel=2)@10 R@1000"'


def split_measures(text: str) -> list[str]:
    """Measures separated by spaces or commas; a comma inside (...) or {...} is a parameter's.

    >>> split_measures("nDCG@10, Compat(p=0.8,normalize=False) nDCG(gains={0:0,1:1})@10")
    ['nDCG@10', 'Compat(p=0.8,normalize=False)', 'nDCG(gains={0:0,1:1})@10']
    """
    items: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char in "({[":
            depth += 1
        elif char in ")}]":
            depth = max(depth - 1, 0)
        if depth == 0 and (char == "," or char.isspace()):
            if current:
                items.append("".join(current))
            current = []
        else:
            current.append(char)
    if current:
        items.append("".join(current))
    return items


def _refuse(item: str, why: str) -> UserError:
    shown = item if len(item) <= 60 else item[:57] + "..."
    return UserError(f"--measure {shown!r}: {why}")


def _whole_number(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= LARGEST


def parse_measure(item: str) -> IrMeasure:
    """One ir_measures measure that an installed provider computes, or a UserError saying why not.

    Checked here, before any work: ir_measures parses it, its parameters are valid (cutoffs and
    `rel` are whole numbers from 1), and a provider installed here computes it.
    """
    import ir_measures

    try:
        measure = ir_measures.parse_measure(item)
    except Exception:  # ir_measures parses with ast: NameError, SyntaxError, ValueError, ...
        raise _refuse(
            item, f"not an ir_measures measure; write e.g. {EXAMPLE} (names: ir-measur.es)"
        ) from None
    name = measure.NAME
    for param, info in measure.SUPPORTED_PARAMS.items():
        if info.required and param not in measure.params:
            at = "@10" if param == measure.AT_PARAM else f"({param}=...)"
            raise _refuse(item, f"{name} needs a {param}: write e.g. {name}{at}")
    for param in ("cutoff", "rel"):
        value = measure.params.get(param)
        if value is not None and param in measure.SUPPORTED_PARAMS and not _whole_number(value):
            written = f"{name}@10" if param == "cutoff" else f"{name}(rel=2)"
            raise _refuse(
                item,
                f"{param} {str(value)[:30]} must be a whole number from 1 to {LARGEST}; write e.g. {written}",
            )
    try:
        measure.validate_params()
    except AssertionError as error:
        raise _refuse(item, f"{error}; see {name}'s parameters at ir-measur.es") from None
    pipeline = ir_measures.DefaultPipeline
    if not pipeline.supports(measure):
        elsewhere = [
            provider.NAME
            + (f" ({provider.install_instructions()})" if provider.install_instructions() else "")
            for provider in pipeline.providers
            if not provider.is_available() and _provider_supports(provider, measure)
        ]
        hint = f"; it needs {' or '.join(elsewhere)}" if elsewhere else ""
        raise _refuse(
            item,
            f"no installed ir_measures provider computes {measure}{hint}; "
            f"write another measure, e.g. {EXAMPLE}",
        )
    return measure


def _provider_supports(provider: Any, measure: Any) -> bool:
    try:
        return bool(provider.supports(measure))
    except Exception:  # a provider's own check may fail on parameters it does not know
        return False


def parse_measures(text: str) -> tuple[str, ...]:
    """`--measure "nDCG@10 RR(rel=2)@10"` -> the measures, each as ir_measures spells it.

    >>> parse_measures("nDCG@10  RR(rel=2)@10,R@1000")
    ('nDCG@10', 'RR(rel=2)@10', 'R@1000')
    """
    found: list[str] = []
    for item in split_measures(text):
        name = str(parse_measure(item))
        if name not in found:
            found.append(name)
    if not found:
        raise UserError('--measure names no measure; write e.g. --measure "nDCG@10 RR@10"')
    return tuple(found)


def chosen_measures(names: Sequence[str] | None, rel: int = 1) -> dict[str, IrMeasure]:
    """Result key -> ir_measures measure: `names` as given, else the defaults at `rel`."""
    if not names:
        return measures(rel)
    return {name: parse_measure(name) for name in parse_measures(" ".join(names))}


def check_computable(chosen: Mapping[str, IrMeasure], qrels: Qrels) -> None:
    """Compute every measure on a two-query sample of `qrels` before the real work.

    A provider can refuse these qrels (gdeval's nDCG(dcg="exp-log2") and ERR need numeric
    query ids); finding out after an evaluation's encoding would waste all of it.
    """
    import ir_measures

    qids = sorted(qid for qid, judged in qrels.items() if judged)[:2]
    sample = {qid: dict(qrels[qid]) for qid in qids}
    run = {
        qid: {**{doc: float(len(docs) - i) for i, doc in enumerate(docs)}, "kdbench-unjudged": 0.0}
        for qid, docs in (
            (qid, sorted(judged, key=judged.__getitem__, reverse=True))
            for qid, judged in sample.items()
        )
    }
    for key, measure in chosen.items():
        try:
            with _stderr_captured() as said:  # a provider's script writes its complaint there
                list(ir_measures.iter_calc([measure], sample, run))
        except Exception as error:
            raise _refuse(
                key,
                f"ir_measures cannot compute it on these qrels ({_reason(error, said)}); "
                f"write another measure, e.g. {EXAMPLE}",
            ) from None


@contextmanager
def _stderr_captured() -> Iterator[list[str]]:
    """What C code and child processes write to file descriptor 2 meanwhile, as lines (kept
    off the terminal: kdbench's error is one line)."""
    said: list[str] = []
    with ExitStack() as stack:
        try:
            sink = stack.enter_context(tempfile.TemporaryFile())
        except OSError:  # no room for it (a full disk): what is said then shows as it is
            sink = None
        if sink is None:
            yield said
            return
        sys.stderr.flush()
        saved = os.dup(2)
        os.dup2(sink.fileno(), 2)
        try:
            yield said
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            said += [line for line in sink.read().decode("utf-8", "replace").splitlines() if line]


def _reason(error: Exception, said: Sequence[str]) -> str:
    """One short line: a provider script's exit and first complaint (its temporary files
    unnamed), else the exception's first line.

    >>> _reason(ValueError("bad qrels\\nmore"), [])
    'bad qrels'
    """
    if isinstance(error, subprocess.CalledProcessError):
        command = error.cmd[0] if isinstance(error.cmd, list | tuple) else error.cmd
        reason = f"{command} exited with status {error.returncode}"
        if said:
            temporary = re.escape(tempfile.gettempdir()) + r"/\S+?(?=[\"':]|$|\s)"
            complaint = re.sub(rf"^{temporary}:\s*", "", said[0])  # the script's own path
            reason += ": " + re.sub(temporary, "its input", complaint)
        return reason[:200]
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def unreachable_rel(chosen: Mapping[str, IrMeasure], qrels: Qrels) -> str | None:
    """A warning when some measure counts a doc relevant only above every grade in `qrels`:
    it is then 0 for every query, which reads like a bad ranker rather than a typo.

    >>> import ir_measures
    >>> print(unreachable_rel({"RR@10": ir_measures.RR(rel=3) @ 10}, {"q1": {"d1": 1, "d2": 2}}))  # doctest: +ELLIPSIS
    RR@10 count a doc relevant from grade 3, and no judgement reaches it (highest grade 2): ...
    """
    grades = [grade for judged in qrels.values() for grade in judged.values()]
    if not grades:
        return None
    top = max(grades)
    above = {
        key: rel
        for key, measure in chosen.items()
        if isinstance(rel := measure.params.get("rel"), int) and rel > top
    }
    if not above:
        return None
    return (
        f"{', '.join(above)} count a doc relevant from grade {min(above.values())}, and no "
        f"judgement reaches it (highest grade {top}): 0 for every query; lower --rel or the "
        "measure's rel="
    )


def rank_scores(run: Run) -> Run:
    """The same rankings with scores n, n-1, ..., 1: no ties left for an evaluator to break."""
    rescored: Run = {}
    for qid, docs in run.items():
        order = ranked(docs)
        rescored[qid] = {
            doc_id: float(len(order) - position) for position, (doc_id, _) in enumerate(order)
        }
    return rescored


def compute_metrics(
    run: Run, qrels: Qrels, rel: int = 1, names: Sequence[str] | None = None
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(mean per measure, {measure: {qid: value}}) over every query in `qrels`, for the
    measures `names` (ir_measures strings; None: the defaults at `rel`)."""
    import ir_measures

    chosen = chosen_measures(names, rel)
    key_of = {str(measure): key for key, measure in chosen.items()}
    per_query: dict[str, dict[str, float]] = {key: dict.fromkeys(qrels, 0.0) for key in chosen}
    judged_run = {qid: docs for qid, docs in rank_scores(run).items() if qid in qrels and docs}
    if judged_run:
        for metric in ir_measures.iter_calc(list(chosen.values()), qrels, judged_run):
            per_query[key_of[str(metric.measure)]][metric.query_id] = float(metric.value)
    means = {
        key: (sum(values.values()) / len(values) if values else 0.0)
        for key, values in per_query.items()
    }
    return means, per_query
