"""The baseline strategies the paper compares RL-MBA against, one module per family; importing
this package registers them (``rlmba run --strategy <name>``):

==================  ============================================================  ===============
name                selection                                                     module
==================  ============================================================  ===============
margin              smallest top-two margin of the fused head (Settles)           uncertainty
least_confidence    largest 1 - max p of the fused head (Settles)                 uncertainty
bald                largest MC-dropout mutual information (Gal et al. 2017)       bald
coreset             k-center greedy on fused features (Sener & Savarese 2018)     coreset
badge               k-means++ on gradient embeddings (Ash et al. 2020)            badge
bmmal               BADGE on Shapley-scaled modality blocks (Shen et al. 2023)    bmmal
deepfool            smallest DeepFool perturbation of fused features (DFAL)       deepfool
gcnal, coregcn,     sequential GCN, CoreGCN / UncertainGCN (Caramalau 2021)       gcnal
uncertaingcn
amcb_only,          RL-MBA ablations: the score q top-b, no policy                ablations
efda_only
==================  ============================================================  ===============

``random`` and ``entropy`` live in :mod:`rlmba.learn.strategies`, ``rlmba`` in
:mod:`rlmba.learn.rlmba_strategy`. Pool-sized work goes through rlmba's public ops.
"""
from . import ablations, badge, bald, bmmal, coreset, deepfool, gcnal, uncertainty  # noqa: F401  (register)
from .bmmal import sample_shapley
from .deepfool import deepfool_linear, deepfool_perturbation, perturbation_norms
from .gcnal import GCN, graph_adjacency

__all__ = ["sample_shapley", "deepfool_linear", "deepfool_perturbation", "perturbation_norms", "GCN",
           "graph_adjacency"]
