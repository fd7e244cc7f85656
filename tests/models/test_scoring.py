"""Pure scoring and batching functions against hand-computed values."""

from __future__ import annotations

import numpy as np
import torch

from kdbench.models.base import length_sorted_batches, pad_token_ids
from kdbench.models.colbert import TermVectors, maxsim_scores
from kdbench.models.dot import dot_scores, pairwise_dot_scores, pool
from kdbench.models.encode import _unsort_packed


def test_dot_scores_all_pairs_and_pairwise() -> None:
    q = torch.tensor([[1.0, 2.0], [0.5, -1.0]])
    d = torch.tensor([[3.0, 4.0], [0.0, 1.0], [2.0, 2.0]])
    assert dot_scores(q, d).tolist() == [[11.0, 2.0, 6.0], [-2.5, -1.0, -1.0]]
    assert pairwise_dot_scores(q, d[:2]).tolist() == [11.0, -1.0]


def test_mean_pooling_ignores_padding_per_row() -> None:
    hidden = torch.tensor(
        [[[2.0, 4.0], [4.0, 0.0], [100.0, 100.0]], [[1.0, 1.0], [3.0, 5.0], [5.0, 9.0]]]
    )
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    assert pool(hidden, mask, "mean").tolist() == [[3.0, 2.0], [3.0, 5.0]]
    assert pool(hidden, mask, "cls").tolist() == [[2.0, 4.0], [1.0, 1.0]]


def test_maxsim_one_query_against_many_passages() -> None:
    q = torch.tensor([[1.0, 0.0], [0.0, 1.0], [7.0, 7.0]])
    q_mask = torch.tensor([1, 1, 0])  # the third query term is padding
    d = torch.tensor([[[2.0, 1.0], [0.0, 3.0]], [[1.0, 1.0], [-50.0, 50.0]]])
    d_mask = torch.tensor([[1, 1], [1, 0]])  # the second passage's [-50, 50] is padding
    # passage 0: max(2, 0) + max(1, 3) = 5; passage 1: 1 + 1 = 2
    assert maxsim_scores(q, q_mask, d, d_mask).tolist() == [5.0, 2.0]


def test_maxsim_pairwise_and_broadcast() -> None:
    q = torch.tensor([[[1.0, 0.0]], [[0.0, 2.0]]])
    q_mask = torch.ones(2, 1)
    d = torch.tensor([[[3.0, 1.0]], [[1.0, 4.0]]])
    d_mask = torch.ones(2, 1)
    assert maxsim_scores(q, q_mask, d, d_mask).tolist() == [3.0, 8.0]
    assert maxsim_scores(q[:1], q_mask[:1], d, d_mask).tolist() == [3.0, 1.0]


def test_maxsim_negative_similarities_never_pick_padding() -> None:
    # With every real similarity negative, a zero-filled padding position would win a naive max.
    q = torch.tensor([[1.0, 0.0]])
    d = torch.tensor([[[-2.0, 0.0], [0.0, 0.0]]])
    assert maxsim_scores(q, torch.tensor([1]), d, torch.tensor([[1, 0]])).tolist() == [-2.0]


def test_pad_token_ids_with_append() -> None:
    ids, mask = pad_token_ids([[1, 2], [3, 4, 5], [6]], pad_id=0, append=[9, 9])
    assert ids.tolist() == [[1, 2, 9, 9, 0], [3, 4, 5, 9, 9], [6, 9, 9, 0, 0]]
    assert mask.tolist() == [[1, 1, 1, 1, 0], [1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]


def test_length_sorted_batches_cover_every_index_once() -> None:
    lengths = np.array([5, 1, 9, 9, 3, 2, 7])
    batches = list(length_sorted_batches(lengths, batch_size=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert sorted(np.concatenate(batches).tolist()) == list(range(7))
    assert [lengths[b].tolist() for b in batches] == [[9, 9, 7], [5, 3, 2], [1]]


def test_term_vectors_pack_and_pad_round_trip() -> None:
    vecs = torch.arange(24, dtype=torch.float32).reshape(3, 4, 2)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1], [1, 0, 0, 0]], dtype=torch.bool)
    packed = TermVectors.from_padded(vecs, mask)
    assert packed.lengths.tolist() == [2, 4, 1] and len(packed) == 3
    padded, padded_mask = packed.padded()
    assert torch.equal(padded_mask, mask)
    assert torch.equal(padded, vecs * mask.unsqueeze(-1))
    subset, subset_mask = packed.padded([2, 0])
    assert subset_mask.tolist() == [[True, False], [True, True]]
    assert (
        subset[0, 0].tolist() == vecs[2, 0].tolist() and subset[1].tolist() == vecs[0, :2].tolist()
    )


def test_unsort_packed_restores_input_order() -> None:
    # Encoding order: text 2 (3 tokens), text 0 (1 token), text 1 (2 tokens).
    packed = torch.tensor([[20.0], [21.0], [22.0], [0.0], [10.0], [11.0]])
    vecs, lengths = _unsort_packed(packed, torch.tensor([3, 1, 2]), torch.tensor([2, 0, 1]))
    assert lengths.tolist() == [1, 2, 3]
    assert vecs.flatten().tolist() == [0.0, 10.0, 11.0, 20.0, 21.0, 22.0]
