"""Selection on plain pool outputs: every strategy rlmba has, on any model's outputs, in one call.

    idx = rlmba.select("badge", 100, probs=probs, embeddings=feats, generator=0)

``rlmba.select(strategy, budget, *, generator=None, **pool_outputs)`` returns int64 pool row
indices ``[budget]`` in pick order, deterministic under the generator. Behind it one
:class:`Selector` per strategy declares the inputs it needs (a missing one raises naming it and
the strategy) and takes its options as keywords; ``make_selector(name, **options)`` builds one,
whose ``run`` also returns each pick's score. rlmba's active-learning loop calls these same
selectors on its model's outputs (:mod:`rlmba.learn.strategies`), so a simulation and a real
labeling job run one implementation.

=================  ===========================================================  ==============
strategy           inputs (``probs`` may be ``logits``)                          module
=================  ===========================================================  ==============
random             any pool output, or ``pool_size``                             classic
entropy, margin,   probs                                                        classic
least_confidence
bald               mc_probs                                                     classic
coreset            embeddings, labeled_embeddings (optional)                    classic
badge              probs, embeddings                                            classic
bmmal              probs, modality_embeddings, modality_contributions or fuse   bmmal
deepfool           embeddings, head                                             deepfool
gcnal (coregcn),   embeddings, labeled_embeddings (optional)                    gcn
uncertaingcn
rlmba              modality_logits, modality_embeddings, weights or              multimodal
                   modality_val_top1 + fused_val_top1, temperatures, policy
amcb_only          as rlmba, no policy                                          multimodal
efda_only          modality_logits, modality_embeddings, temperatures           multimodal
=================  ===========================================================  ==============
"""
from .base import (INPUTS, PoolOutputs, Selection, Selector, available_selectors, make_selector, register_selector,
                   select)

__all__ = ["select", "Selector", "Selection", "PoolOutputs", "INPUTS", "make_selector", "register_selector",
           "available_selectors"]
