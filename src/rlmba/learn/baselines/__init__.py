"""The baseline strategies the paper compares RL-MBA against, as the loop runs them: each hands
the round's model outputs to the selector of the same name in :mod:`rlmba.selectors` (where the
algorithms and their references live). Importing this module registers them
(``rlmba run --strategy <name>``):

==================  ============================================================  ==================
name                selection                                                     round outputs used
==================  ============================================================  ==================
margin              smallest top-two margin of the fused head (Settles)           probs
least_confidence    largest 1 - max p of the fused head (Settles)                 probs
bald                largest MC-dropout mutual information (Gal et al. 2017)       S dropout passes
coreset             k-center greedy on fused features (Sener & Savarese 2018)     fused features
badge               k-means++ on gradient embeddings (Ash et al. 2020)            probs, fused feat.
bmmal               BADGE on Shapley-scaled modality blocks (Shen et al. 2023)    + Shapley values
deepfool            smallest DeepFool perturbation of fused features (DFAL)       fused head
gcnal, coregcn,     sequential GCN, CoreGCN / UncertainGCN (Caramalau 2021)       fused features
uncertaingcn
amcb_only,          RL-MBA ablations: the score q top-b, no policy                modality outputs
efda_only
==================  ============================================================  ==================

``probs`` are the fused head's expected probabilities alpha / S, the fused features its input;
``random`` and ``entropy`` live in :mod:`rlmba.learn.strategies`, ``rlmba`` in
:mod:`rlmba.learn.rlmba_strategy`.

The ablations are selection-side: the loop trains every strategy's classifier with the AMCB
fusion weights (``model.set_fusion_weights``); a strategy cannot switch that off.
"""
from __future__ import annotations

import torch

from ...selectors.bmmal import shapley_values
from ...selectors.deepfool import deepfool_linear, deepfool_perturbation, perturbation_norms
from ...selectors.gcn import GCN, graph_adjacency
from ..config import RLMBAConfig
from ..metrics import coalition_probs
from ..strategies import RoundState, SelectorStrategy, register_strategy

__all__ = ["sample_shapley", "deepfool_linear", "deepfool_perturbation", "perturbation_norms", "GCN",
           "graph_adjacency"]


@register_strategy("margin")
class MarginStrategy(SelectorStrategy):
    """The b smallest margins p_(1) - p_(2) between the fused head's two most probable classes."""

    def __init__(self, **_):
        super().__init__()

    def inputs(self, state: RoundState) -> dict:
        return {"probs": state.probs}


@register_strategy("least_confidence")
class LeastConfidenceStrategy(MarginStrategy):
    """The b largest 1 - p_(1) of the fused head."""


@register_strategy("bald")
class BALDStrategy(SelectorStrategy):
    """``samples``: S, the number of MC-dropout passes (default 10, as in Gal et al. 2017), drawn
    with the model's dropout on and seeded from the round's generator
    (:meth:`RoundState.mc_dropout_probs`). Memory: the ``[S, U, C]`` probabilities."""

    def __init__(self, samples: int = 10, **_):
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 2:
            raise ValueError(f"samples: BALD needs at least 2 MC-dropout passes, got {samples!r}")
        super().__init__()
        self.samples = samples

    def inputs(self, state: RoundState) -> dict:
        return {"mc_probs": state.mc_dropout_probs(self.samples)}


@register_strategy("coreset")
class CoresetStrategy(SelectorStrategy):
    """``metric``: ``"euclidean"`` (default, the paper's) or ``"cosine"``; the labeled rows' fused
    features are the initial centers."""

    def __init__(self, metric: str = "euclidean", **_):
        super().__init__(metric=metric)

    def inputs(self, state: RoundState) -> dict:
        return {"embeddings": state.embeddings, "labeled_embeddings": state.labeled_embeddings}


@register_strategy("badge")
class BadgeStrategy(SelectorStrategy):
    """BADGE on the fused head: q = p - onehot(argmax p) at the head's expected probabilities
    (the cross-entropy gradient BADGE defines, not the EDL loss's), f the fused features."""

    def __init__(self, **_):
        super().__init__()

    def inputs(self, state: RoundState) -> dict:
        return {"probs": state.probs, "embeddings": state.embeddings}


@torch.no_grad()
def sample_shapley(model, features: torch.Tensor, permutations: int = 16,
                   generator: torch.Generator | None = None) -> torch.Tensor:
    """Per-sample Shapley contributions float64 ``[N, M]`` of each modality to the fused head's
    probability of its predicted class (:func:`rlmba.selectors.bmmal.shapley_values`), a dropped
    modality zeroed through ``model.fuse(features, mask)``; ``features``: ``[M, N, h]``."""
    _, logits = model.fuse(features)
    value = coalition_probs(model, features, logits.argmax(1))
    return shapley_values(value, features.shape[0], permutations, generator)


@register_strategy("bmmal")
class BMMALStrategy(SelectorStrategy):
    """Shapley values from modality-dropped passes of the model's fused head, the gradient blocks
    w_m f_m of its fusion weights w. ``permutations``: Monte Carlo orders when M > 2 (default 16)."""

    def __init__(self, permutations: int = 16, **_):
        super().__init__(permutations=permutations)

    def inputs(self, state: RoundState) -> dict:
        out = state.outputs
        phi = sample_shapley(state.model, out.features, self.selector.permutations, state.generator)
        w = state.model.fusion_weights.to(out.features)
        blocks = [w[m] * out.features[m] for m in range(out.features.shape[0])]
        return {"probs": state.probs, "modality_embeddings": blocks, "modality_contributions": phi}


@register_strategy("deepfool")
class DeepFoolStrategy(SelectorStrategy):
    """The fused features nearest the fused head's boundary; needs ``model.fused_head``.
    ``overshoot``, ``max_iter``: DeepFool's (iterative path, non-linear heads)."""

    def __init__(self, overshoot: float = 0.02, max_iter: int = 50, **_):
        super().__init__(overshoot=overshoot, max_iter=max_iter)

    def inputs(self, state: RoundState) -> dict:
        head = getattr(state.model, "fused_head", None)
        if head is None:
            raise ValueError("deepfool: the model has no 'fused_head' (the module from fused features to fused logits)")
        return {"embeddings": state.embeddings, "head": head}


class _GCNStrategy(SelectorStrategy):
    """Sequential GCN on the fused features of the pool and the labeled rows (options: see
    :class:`rlmba.selectors.gcn.SequentialGCN`)."""

    def __init__(self, hidden: int = 128, dropout: float = 0.3, epochs: int = 200, lr: float = 1e-3,
                 weight_decay: float = 5e-4, lambda_loss: float = 1.2, s_margin: float = 0.1,
                 subset: int | None = 10_000, dense_max: int = 4096, knn: int = 16, variant: str | None = None, **_):
        super().__init__(hidden=hidden, dropout=dropout, epochs=epochs, lr=lr, weight_decay=weight_decay,
                         lambda_loss=lambda_loss, s_margin=s_margin, subset=subset, dense_max=dense_max, knn=knn,
                         variant=variant)

    def inputs(self, state: RoundState) -> dict:
        return {"embeddings": state.embeddings, "labeled_embeddings": state.labeled_embeddings}


@register_strategy("gcnal")
class GCNALStrategy(_GCNStrategy):
    """GCNAL as the paper's tables name it: CoreGCN by default, ``variant="uncertain"`` UncertainGCN."""


@register_strategy("coregcn")
class CoreGCNStrategy(_GCNStrategy):
    """CoreGCN (the same strategy as ``gcnal``, which ``--strategy all`` runs instead)."""

    alias_of = "gcnal"


@register_strategy("uncertaingcn")
class UncertainGCNStrategy(_GCNStrategy):
    """UncertainGCN: the nodes whose labeled-vs-unlabeled score is closest to ``s_margin``."""


class ScoreStrategy(SelectorStrategy):
    """The strategies of the score q (:mod:`rlmba.selectors.multimodal`) on the round's modality
    outputs, AMCB weights and temperatures."""

    def __init__(self, config: RLMBAConfig | None = None, **_):
        super().__init__(config=config)

    def inputs(self, state: RoundState) -> dict:
        out = state.outputs
        return {"modality_logits": out.modality_logits, "modality_embeddings": out.features,
                "weights": state.weights, "temperatures": state.temperatures}


@register_strategy("amcb_only")
class AMCBOnlyStrategy(ScoreStrategy):
    """The top b of q with the AMCB weights and entropy (not evidential) per-modality uncertainty."""


@register_strategy("efda_only")
class EFDAOnlyStrategy(ScoreStrategy):
    """The top b of q with uniform modality weights and EFDA's evidential uncertainty."""
