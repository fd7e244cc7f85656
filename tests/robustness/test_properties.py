"""Invariants checked on generated inputs (hypothesis): metrics, Margin-MSE, MaxSim, dense top-k."""

from __future__ import annotations

import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kdbench.evaluate.metrics import MEASURE_NAMES, compute_metrics
from kdbench.losses.functional import margin_mse, margins
from kdbench.models.colbert import maxsim_scores
from kdbench.retrieval.dense import TopK, exact_search

FEW = settings(max_examples=50, deadline=None)


# -- metrics --------------------------------------------------------------------------------------
@st.composite
def ranking_and_qrels(draw: st.DrawFn) -> tuple[list[str], dict[str, int]]:
    """A ranking of 1..30 docs, and graded judgements (0..3) of some of them and of unranked docs."""
    size = draw(st.integers(1, 30))
    ranking = [f"d{i}" for i in draw(st.permutations(range(size)))]
    judged = draw(st.dictionaries(st.sampled_from([*ranking, "x1", "x2"]), st.integers(0, 3)))
    if not judged:
        judged = {ranking[0]: 0}
    return ranking, judged


def _scores(ranking: list[str]) -> dict[str, float]:
    return {doc: float(len(ranking) - position) for position, doc in enumerate(ranking)}


@FEW
@given(ranking_and_qrels(), st.integers(1, 3))
def test_every_metric_is_in_0_1(case: tuple[list[str], dict[str, int]], rel: int) -> None:
    ranking, judged = case
    means, per_query = compute_metrics({"q": _scores(ranking)}, {"q": judged}, rel=rel)
    assert set(means) == set(MEASURE_NAMES)
    for name in MEASURE_NAMES:
        assert 0.0 <= means[name] <= 1.0
        assert 0.0 <= per_query[name]["q"] <= 1.0


@FEW
@given(ranking_and_qrels(), st.data())
def test_moving_a_relevant_doc_up_never_lowers_rr_or_ndcg(
    case: tuple[list[str], dict[str, int]], data: st.DataObject
) -> None:
    ranking, judged = case
    relevant = [i for i, doc in enumerate(ranking) if judged.get(doc, 0) >= 1 and i > 0]
    assume(relevant)
    position = data.draw(st.sampled_from(relevant))
    above = ranking[position - 1]
    moved = list(ranking)
    moved[position - 1], moved[position] = moved[position], above  # one place up
    before, _ = compute_metrics({"q": _scores(ranking)}, {"q": judged})
    after, _ = compute_metrics({"q": _scores(moved)}, {"q": judged})
    assert after["RR@10"] >= before["RR@10"] - 1e-12
    # nDCG is graded: it can only drop when the doc passed was judged more relevant.
    if judged.get(ranking[position], 0) >= judged.get(above, 0):
        assert after["nDCG@10"] >= before["nDCG@10"] - 1e-12


# -- Margin-MSE -----------------------------------------------------------------------------------
small_floats = st.floats(-20, 20, allow_nan=False, width=32)


@st.composite
def student_scores(draw: st.DrawFn) -> torch.Tensor:
    n, k = draw(st.integers(1, 6)), draw(st.integers(1, 4))
    values = draw(st.lists(small_floats, min_size=n * (1 + k), max_size=n * (1 + k)))
    return torch.tensor(values, dtype=torch.float32).reshape(n, 1 + k)


@FEW
@given(student_scores(), st.data())
def test_margin_mse_is_zero_exactly_when_margins_match(
    student: torch.Tensor, data: st.DataObject
) -> None:
    n = student.shape[0]
    # Integer offsets per query keep every sum exact: the teacher has the student's margins.
    offsets = torch.tensor(data.draw(st.lists(st.integers(-8, 8), min_size=n, max_size=n)))
    student = student.round()
    teacher = student + offsets.to(student.dtype).unsqueeze(1)
    assert margin_mse(student, teacher).item() == 0.0
    assert margin_mse(student, margins(student)).item() == 0.0
    # Any margin off by any amount makes the loss positive.
    row, column = data.draw(st.integers(0, n - 1)), data.draw(st.integers(1, student.shape[1] - 1))
    nudged = teacher.clone()
    nudged[row, column] += data.draw(st.sampled_from([-2.0, -0.5, 0.25, 1.0, 3.0]))
    assert margin_mse(student, nudged).item() > 0.0


@FEW
@given(student_scores(), st.data())
def test_margin_mse_is_symmetric_in_sign(student: torch.Tensor, data: st.DataObject) -> None:
    values = data.draw(st.lists(small_floats, min_size=student.numel(), max_size=student.numel()))
    teacher = torch.tensor(values, dtype=torch.float32).reshape(student.shape)
    loss = margin_mse(student, teacher)
    assert torch.equal(margin_mse(-student, -teacher), loss)  # every margin flips sign
    assert torch.equal(margin_mse(teacher, student), loss)  # the error enters squared
    assert loss.item() >= 0.0


# -- MaxSim -----------------------------------------------------------------------------------------
@st.composite
def term_vectors(draw: st.DrawFn) -> tuple[torch.Tensor, ...]:
    seed = draw(st.integers(0, 2**16))
    query_len, doc_len = draw(st.integers(1, 6)), draw(st.integers(1, 8))
    docs, dim = draw(st.integers(1, 5)), draw(st.integers(1, 8))
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(query_len, dim, generator=generator)
    d = torch.randn(docs, doc_len, dim, generator=generator)
    q_mask = (torch.rand(query_len, generator=generator) > 0.3).long()
    d_mask = (torch.rand(docs, doc_len, generator=generator) > 0.3).long()
    d_mask[:, 0] = 1  # every passage has a real token
    return q, q_mask, d, d_mask, torch.randperm(doc_len, generator=generator)


@FEW
@given(term_vectors())
def test_maxsim_shape_and_doc_token_order(case: tuple[torch.Tensor, ...]) -> None:
    q, q_mask, d, d_mask, permutation = case
    scores = maxsim_scores(q, q_mask, d, d_mask)
    assert scores.shape == (d.shape[0],)
    shuffled = maxsim_scores(q, q_mask, d[:, permutation], d_mask[:, permutation])
    assert torch.equal(scores, shuffled)  # a max over the same values, in any order
    # The reference: for each real query term, the best real passage term, summed.
    for doc in range(d.shape[0]):
        real = d[doc][d_mask[doc].bool()]
        best = (q @ real.T).max(dim=1).values
        torch.testing.assert_close(scores[doc], (best * q_mask).sum())
    # Pairwise layout: n queries against n passages -> [n].
    pairs = maxsim_scores(q.expand(d.shape[0], -1, -1), q_mask.expand(d.shape[0], -1), d, d_mask)
    assert pairs.shape == (d.shape[0],)
    torch.testing.assert_close(pairs, scores)


# -- dense top-k ----------------------------------------------------------------------------------
@FEW
@given(
    st.integers(0, 2**16),
    st.integers(1, 4),
    st.integers(1, 60),
    st.integers(1, 70),
    st.integers(1, 25),
)
def test_dense_top_k_equals_a_full_sort(
    seed: int, queries: int, docs: int, k: int, chunk: int
) -> None:
    generator = torch.Generator().manual_seed(seed)
    query_vectors = torch.randn(queries, 8, generator=generator)
    doc_vectors = torch.randn(docs, 8, generator=generator)
    full = query_vectors @ doc_vectors.T
    expected_scores, _ = torch.sort(full, dim=1, descending=True)
    kept = min(k, docs)
    scores, rows = exact_search(query_vectors, doc_vectors, k, chunk_size=chunk)
    assert scores.shape == rows.shape == (queries, kept)
    torch.testing.assert_close(scores, expected_scores[:, :kept])
    # Rows may differ only where scores tie; then both must carry the same score.
    torch.testing.assert_close(torch.gather(full, 1, rows), expected_scores[:, :kept])
    assert all(len(set(r.tolist())) == kept for r in rows)  # no doc twice
    # The streaming merge gives the same whatever the chunking.
    top = TopK(queries, k)
    for start in range(0, docs, chunk):
        top.add(full[:, start : start + chunk], first_row=start)
    torch.testing.assert_close(top.result()[0], expected_scores[:, :kept])
