"""Face verification and re-identification: metric-learning losses and evaluation (Lecture 09).

Embeddings are ``(N, D)`` rows (``D`` the embedding dimension). Every function takes torch
tensors (metrics also numpy arrays), is vectorized, and returns results on the input's device;
the losses are differentiable.

- :mod:`.distances`       ``pairwise_distances``, ``cosine_similarity_matrix``
- :mod:`.losses`          ``contrastive_loss`` (DeepID2), ``triplet_loss`` (FaceNet)
- :mod:`.mining`          ``batch_all_triplet_loss``, ``batch_hard_triplet_loss``, ``triplet_kinds``
- :mod:`.margins`         ``margin_logits`` (SphereFace, CosFace, ArcFace)
- :mod:`.metrics`         ``roc_curve``, ``roc_auc_score``, ``verification_accuracy`` (LFW
  10-fold), ``tar_at_far``, ``equal_error_rate``
- :mod:`.identification`  ``cmc_curve``, ``rank_accuracy``, ``match_ranks``, ``format_rank_table``
- :mod:`.embedding`       ``EmbeddingNet``, ``train_embedding`` (batch-hard triplets on PK batches),
  ``pk_batches``, ``embed``
- :mod:`.plots`           ``plot_roc``, ``plot_cmc``, ``plot_distance_histograms`` (matplotlib,
  imported on first use)
"""

from __future__ import annotations

from cnncourse.verification.distances import cosine_similarity_matrix, pairwise_distances
from cnncourse.verification.embedding import EmbeddingNet, embed, pk_batches, train_embedding
from cnncourse.verification.identification import cmc_curve, format_rank_table, match_ranks, rank_accuracy
from cnncourse.verification.losses import contrastive_loss, triplet_loss
from cnncourse.verification.margins import DEFAULT_MARGINS, margin_logits
from cnncourse.verification.metrics import (
    UndefinedMetricWarning,
    VerificationAccuracy,
    equal_error_rate,
    roc_auc_score,
    roc_curve,
    tar_at_far,
    verification_accuracy,
)
from cnncourse.verification.mining import batch_all_triplet_loss, batch_hard_triplet_loss, triplet_kinds

_PLOTS = ("plot_cmc", "plot_distance_histograms", "plot_roc")

__all__ = [
    "DEFAULT_MARGINS",
    "EmbeddingNet",
    "UndefinedMetricWarning",
    "VerificationAccuracy",
    "batch_all_triplet_loss",
    "batch_hard_triplet_loss",
    "cmc_curve",
    "contrastive_loss",
    "cosine_similarity_matrix",
    "embed",
    "equal_error_rate",
    "format_rank_table",
    "margin_logits",
    "match_ranks",
    "pairwise_distances",
    "pk_batches",
    "rank_accuracy",
    "roc_auc_score",
    "roc_curve",
    "tar_at_far",
    "train_embedding",
    "triplet_kinds",
    "triplet_loss",
    "verification_accuracy",
    *_PLOTS,
]


def __getattr__(name: str):
    """Import the matplotlib plots lazily, so that importing the package stays cheap."""
    if name in _PLOTS:
        from cnncourse.verification import plots

        return getattr(plots, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
