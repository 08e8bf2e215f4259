"""Closed-set identification and re-identification ranking: CMC curve and rank-k table (Lecture 09).

Each query (probe) is compared with every gallery item; the gallery is sorted by score and the
rank of the first gallery item with the query's identity is recorded (rank 1 = the best match
is correct). The cumulative matching characteristic ``CMC(k)`` is the fraction of queries whose
first correct match has rank <= k; re-id papers report rank-1/5/10/20, as in the person re-id
table of the lecture (CUHK01: ``Method Rank1 Rank5 Rank10 Rank20``).

``scores`` is Tensor[Q, G] (``Q`` queries, ``G`` gallery items). By default higher = better
(similarities); pass distances with ``largest=False`` (torch.topk's keyword). Ties are broken
by gallery order (stable sort). Queries whose identity is not in the gallery cannot be ranked:
they are left out with a warning, as in the Market-1501 evaluation script.
"""

from __future__ import annotations

import warnings
from typing import Any, Mapping, Sequence

import torch

from cnncourse._validate import ArgumentError, check_positive_int
from cnncourse.verification._checks import _as_tensor, _check_finite, _shape, _to_output
from cnncourse.verification.metrics import UndefinedMetricWarning

__all__ = ["cmc_curve", "format_rank_table", "match_ranks", "rank_accuracy"]


def _check_ranking(scores: Any, query_labels: Any, gallery_labels: Any):
    s, was_numpy = _as_tensor("scores", scores)
    if s.dim() != 2:
        raise ArgumentError("scores", "shape (n_queries, n_gallery)", _shape(s))
    if not s.is_floating_point():
        s = s.to(torch.float64)
    _check_finite("scores", s)
    q, _ = _as_tensor("query_labels", query_labels)
    g, _ = _as_tensor("gallery_labels", gallery_labels)
    for name, lab, n in (("query_labels", q, s.shape[0]), ("gallery_labels", g, s.shape[1])):
        if lab.dim() != 1:
            raise ArgumentError(name, "shape (n,)", _shape(lab))
        if lab.shape[0] != n:
            axis = "rows" if name == "query_labels" else "columns"
            raise ArgumentError(name, f"length {n} (the {axis} of `scores`)", f"length {lab.shape[0]}")
    return s, q.to(s.device), g.to(s.device), was_numpy


def match_ranks(scores: Any, query_labels: Any, gallery_labels: Any, *, largest: bool = True):
    """1-based rank of the first correct gallery match of each query, 0 if absent (Lecture 09).

    Args:
        scores: Tensor[Q, G] query-gallery scores (numpy accepted).
        query_labels: Tensor[Q] identities of the queries.
        gallery_labels: Tensor[G] identities of the gallery items.
        largest: True if higher scores are better matches (keyword-only).

    Returns:
        Tensor[Q] int64 on ``scores``' device (numpy in, numpy out).
    """
    s, q, g, was_numpy = _check_ranking(scores, query_labels, gallery_labels)
    order = torch.argsort(s, dim=1, descending=largest, stable=True)  # (Q, G) best first
    hits = g[order] == q[:, None]  # (Q, G) gallery identity equals the query's, in rank order
    first = torch.argmax(hits.to(torch.uint8), dim=1) if s.shape[1] else \
        torch.zeros(s.shape[0], dtype=torch.int64, device=s.device)  # (Q,) first hit (0 if none)
    ranks = torch.where(hits.any(1), first + 1, torch.zeros_like(first))
    return _to_output(ranks, was_numpy)


def cmc_curve(scores: Any, query_labels: Any, gallery_labels: Any, *, max_rank: int | None = None,
              largest: bool = True):
    """CMC curve, ``cmc[k - 1] = P(first correct match at rank <= k)`` (Lecture 09, re-id).

    Args:
        scores: Tensor[Q, G] query-gallery scores (numpy accepted).
        query_labels: Tensor[Q] identities of the queries.
        gallery_labels: Tensor[G] identities of the gallery items.
        max_rank: length of the curve (keyword-only); default ``G``. Ranks beyond ``G`` repeat
            ``cmc[G - 1]`` (every rankable query is matched by then: 1.0).
        largest: True if higher scores are better matches; False for distances (keyword-only).

    Returns:
        Tensor[max_rank] float64, non-decreasing, on ``scores``' device (numpy in, numpy out).
        NaN (with an ``UndefinedMetricWarning``) when no query can be ranked (``Q = 0`` or no
        query identity in the gallery); queries absent from the gallery are left out with a warning.

    Example:
        >>> import numpy as np
        >>> scores = np.array([[0.9, 0.8, 0.1], [0.2, 0.7, 0.6]])
        >>> cmc_curve(scores, np.array([1, 2]), np.array([0, 1, 2]))  # ranks 2 and 2
        array([0., 1., 1.])
    """
    s, q, g, was_numpy = _check_ranking(scores, query_labels, gallery_labels)
    max_rank = s.shape[1] if max_rank is None else check_positive_int("max_rank", max_rank)
    ranks = match_ranks(s, q, g, largest=largest)  # (Q,)
    valid = ranks > 0
    n_valid = int(valid.sum())
    if 0 < n_valid < ranks.shape[0]:
        warnings.warn(f"{ranks.shape[0] - n_valid} of {ranks.shape[0]} queries have no match in the "
                      "gallery and are left out of the CMC curve", UndefinedMetricWarning, stacklevel=2)
    if n_valid == 0:
        warnings.warn("no query can be ranked (no queries, or none whose identity is in the gallery): "
                      "the CMC curve is undefined", UndefinedMetricWarning, stacklevel=2)
        return _to_output(torch.full((max_rank,), float("nan"), dtype=torch.float64, device=s.device),
                          was_numpy)
    # counts[r] = queries first matched at rank r + 1, for r < max_rank (higher ranks dropped)
    counts = torch.bincount(ranks[valid & (ranks <= max_rank)] - 1, minlength=max_rank)  # (max_rank,)
    cmc = torch.cumsum(counts, 0).to(torch.float64) / n_valid
    return _to_output(cmc, was_numpy)


def rank_accuracy(scores: Any, query_labels: Any, gallery_labels: Any, *,
                  ranks: Sequence[int] = (1, 5, 10, 20), largest: bool = True) -> dict[int, float]:
    """Rank-k identification accuracy ``{k: CMC(k)}``, the re-id table's Rank1/5/10/20 (Lecture 09).

    Same arguments as :func:`cmc_curve`; ``ranks`` are positive integers (ranks beyond the
    gallery size give ``CMC(G)``). Values are fractions in [0, 1] (tables print percentages).
    """
    ks = [check_positive_int("ranks", k) for k in ranks]
    if not ks:
        return {}
    cmc = cmc_curve(scores, query_labels, gallery_labels, max_rank=max(ks), largest=largest)
    return {k: float(cmc[k - 1]) for k in ks}


def format_rank_table(rows: Mapping[str, Mapping[int, float]], *, percent: bool = True,
                      digits: int = 2) -> str:
    """Format ``{method: {rank: accuracy}}`` as Lecture 09's ``Method Rank1 Rank5 ...`` re-id table.

    Example:
        >>> print(format_rank_table({"ours": {1: 0.642, 5: 0.864}}))
        Method  Rank1  Rank5
        ours    64.20  86.40
    """
    ranks = sorted({k for r in rows.values() for k in r})
    header = ["Method"] + [f"Rank{k}" for k in ranks]
    body = [[name] + [f"{(v * 100 if percent else v):.{digits}f}" if (v := r.get(k)) is not None else "-"
                      for k in ranks] for name, r in rows.items()]
    widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in [header] + body)
