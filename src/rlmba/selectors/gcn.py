"""Sequential GCN for active learning (Caramalau, Bhattarai and Kim, CVPR 2021): GCNAL.

Nodes: the labeled samples (``labeled_embeddings``) and the unlabeled pool (``embeddings``, or a
random ``subset`` of it, the paper's M = 10,000), each with its features (rlmba's loop: the fused
features f(x)), L2-normalised. Graph (the paper's): similarities
S = x x^T with the diagonal removed (and, ours, negative similarities clamped to 0 so a column
sum cannot cancel; a no-op on the default model's non-negative ReLU features), column-normalised,
plus self loops: A = S D^-1 + I, D = diag of the column sums.

Bounded memory: with at most ``dense_max`` nodes A is dense ([n, n]); above it, S keeps only each
node's ``knn`` most similar nodes (found by row tiles of at most 2^24 similarities), symmetrised
as (S + S^T) / 2, and A is a sparse ``[n, n]`` matrix with O(n knn) entries.

A two-layer GCN, H = relu(A X W1 + b1), s = sigmoid(A H W2 + b2), is trained to tell labeled
nodes (target 1) from unlabeled ones (target 0) with the paper's weighted binary cross-entropy
-mean_L log s - lambda mean_U log(1 - s) (lambda = 1.2; Adam, lr 1e-3, weight decay 5e-4,
dropout 0.3, hidden 128, 200 epochs). Then:

- UncertainGCN: the b unlabeled nodes whose score s is closest to ``s_margin`` (0.1);
- CoreGCN: k-center greedy (:func:`rlmba.ops.selection.k_center_greedy`) on the GCN's hidden
  features H, the labeled nodes being the initial centers.

GCN initialisation, dropout and the subset come from the generator: reproducible.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..ops.selection import k_center_greedy, topb_select
from .base import PoolOutputs, Selection, Selector, register_selector, scored

TILE = 1 << 24  # similarities per tile of the kNN search


def _normalise(rows: torch.Tensor, cols: torch.Tensor, vals: torch.Tensor, n: int) -> torch.Tensor:
    """Sparse A = S D^-1 + I from the (symmetric) entries of S; empty columns stay empty."""
    colsum = torch.zeros(n, dtype=vals.dtype, device=vals.device).index_add_(0, cols, vals)
    vals = vals / colsum.clamp_min(torch.finfo(vals.dtype).tiny)[cols]
    eye = torch.arange(n, device=vals.device)
    idx = torch.stack([torch.cat([rows, eye]), torch.cat([cols, eye])])
    return torch.sparse_coo_tensor(idx, torch.cat([vals, torch.ones(n, dtype=vals.dtype, device=vals.device)]),
                                   (n, n), check_invariants=True).coalesce()


def knn_similarities(x: torch.Tensor, k: int):
    """(rows, cols, values) of each row's ``k`` largest dot products with the other rows (self
    excluded), by tiles of at most ``TILE`` similarities: O(n k) memory."""
    n = x.shape[0]
    k = min(k, n - 1)
    step = max(1, TILE // n)
    vals, cols = [], []
    for i in range(0, n, step):
        s = x[i:i + step] @ x.T
        s[torch.arange(s.shape[0], device=x.device), torch.arange(i, i + s.shape[0], device=x.device)] = float("-inf")
        v, c = s.topk(k, dim=1)
        vals.append(v)
        cols.append(c)
    rows = torch.arange(n, device=x.device).repeat_interleave(k)
    return rows, torch.cat(cols).flatten(), torch.cat(vals).flatten()


def graph_adjacency(features: torch.Tensor, dense_max: int = 4096, knn: int = 16) -> torch.Tensor:
    """A = S D^-1 + I of the module docstring for ``features [n, h]``: dense ``[n, n]`` when
    n <= ``dense_max``, else sparse from the symmetrised ``knn``-nearest-neighbour similarities."""
    x = F.normalize(features.float(), dim=1)
    n = x.shape[0]
    if n <= dense_max:
        S = (x @ x.T).clamp_min_(0).fill_diagonal_(0)
        return S / S.sum(0, keepdim=True).clamp_min(torch.finfo(S.dtype).tiny) + torch.eye(n, device=x.device)
    rows, cols, vals = knn_similarities(x, knn)
    half = vals.clamp_min(0) / 2  # (S + S^T) / 2: duplicate (i, j) entries are summed by coalesce
    S = torch.sparse_coo_tensor(torch.stack([torch.cat([rows, cols]), torch.cat([cols, rows])]),
                                torch.cat([half, half]), (n, n), check_invariants=True).coalesce()
    r, c = S.indices()
    return _normalise(r, c, S.values(), n)


class GCN(nn.Module):
    """Two graph-convolution layers: H = relu(A X W1 + b1) (dropout), logit = A H W2 + b2."""

    def __init__(self, in_dim: int, hidden: int = 128, dropout: float = 0.3):
        super().__init__()
        self.w1, self.w2 = nn.Linear(in_dim, hidden, bias=False), nn.Linear(hidden, 1, bias=False)
        self.b1, self.b2 = nn.Parameter(torch.zeros(hidden)), nn.Parameter(torch.zeros(1))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, adj: torch.Tensor, ax: torch.Tensor | None = None):
        """(logits [n], hidden features H [n, hidden]); s = sigmoid(logits). A X W1 is computed as
        (A X) W1, and ``ax`` = A X may be passed precomputed: the graph and the node features are
        fixed while the GCN trains, so only A (H W2), a one-column product, stays per epoch."""
        mm = torch.sparse.mm if adj.is_sparse else torch.mm
        ax = mm(adj, x) if ax is None else ax
        h = self.dropout(F.relu(self.w1(ax) + self.b1))
        return (mm(adj, self.w2(h)) + self.b2).squeeze(1), h


def gcn_loss(logits: torch.Tensor, is_labeled: torch.Tensor, lam: float) -> torch.Tensor:
    """-mean_L log s - lam mean_U log(1 - s), s = sigmoid(logits); logsigmoid keeps log(1 - s)
    = logsigmoid(-logit) finite when s rounds to 1."""
    loss = -lam * F.logsigmoid(-logits[~is_labeled]).mean()
    return loss - F.logsigmoid(logits[is_labeled]).mean() if bool(is_labeled.any()) else loss



class SequentialGCN(Selector):
    """GCNAL: ``variant`` = ``"core"`` (CoreGCN, the default: the better variant in Caramalau et
    al. 2021) or ``"uncertain"`` (UncertainGCN); the other options are the paper's defaults (see
    the module docstring). Scores: |s - s_margin| for UncertainGCN, NaN for CoreGCN (a set)."""

    needs = ("embeddings",)
    optional = ("labeled_embeddings",)
    variant = "core"

    def __init__(self, variant: str | None = None, hidden: int = 128, dropout: float = 0.3, epochs: int = 200,
                 lr: float = 1e-3, weight_decay: float = 5e-4, lambda_loss: float = 1.2, s_margin: float = 0.1,
                 subset: int | None = 10_000, dense_max: int = 4096, knn: int = 16):
        if variant is not None:
            if variant not in ("core", "uncertain"):
                raise ValueError(f"variant: expected 'core' or 'uncertain', got {variant!r}")
            self.variant = variant
        if subset is not None and subset < 1:
            raise ValueError(f"subset: expected None or >= 1 unlabeled nodes, got {subset}")
        self.hidden, self.dropout, self.epochs, self.lr, self.weight_decay = hidden, dropout, epochs, lr, weight_decay
        self.lambda_loss, self.s_margin = lambda_loss, s_margin
        self.subset, self.dense_max, self.knn = subset, dense_max, knn

    def fit(self, embeddings: torch.Tensor, labeled: torch.Tensor | None, budget: int, generator):
        """Train the GCN on the graph of the pool (or its subset) and the labeled rows: (pool rows
        of the unlabeled nodes [n_u], sigmoid scores [n_u + L] and hidden features
        [n_u + L, hidden] of all nodes, unlabeled nodes first, then the labeled ones in order)."""
        U = embeddings.shape[0]
        pos = torch.arange(U)
        if self.subset is not None and self.subset < U:
            pos = torch.randperm(U, generator=generator)[:max(self.subset, budget)].sort().values
        seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
        parts = [embeddings[pos.to(embeddings.device)]] + ([labeled.to(embeddings)] if labeled is not None else [])
        x = torch.cat(parts).float()
        is_labeled = torch.arange(x.shape[0], device=x.device) >= len(pos)
        adj = graph_adjacency(x, self.dense_max, self.knn)
        ax = torch.sparse.mm(adj, x) if adj.is_sparse else adj @ x
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            torch.manual_seed(seed)
            net = GCN(x.shape[1], self.hidden, self.dropout).to(x.device)
            opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
            with torch.enable_grad():
                for _ in range(self.epochs):
                    opt.zero_grad()
                    gcn_loss(net(x, adj, ax)[0], is_labeled, self.lambda_loss).backward()
                    opt.step()
        net.eval()
        with torch.no_grad():
            logits, h = net(x, adj, ax)
        return pos, torch.sigmoid(logits), h

    def pick(self, pool: PoolOutputs, budget: int, generator) -> Selection:
        labeled = pool.get("labeled_embeddings")
        labeled = labeled if labeled is not None and len(labeled) else None
        pos, scores, h = self.fit(pool["embeddings"], labeled, budget, generator)
        n_u = len(pos)
        if self.variant == "uncertain":
            s = (scores[:n_u] - self.s_margin).abs()
            picks = topb_select(s, budget, largest=False)
            return Selection(pos[picks.cpu()], s[picks].double().cpu())
        labeled_nodes = torch.arange(n_u, h.shape[0], device=h.device)
        picks = k_center_greedy(h, budget, labeled=labeled_nodes if len(labeled_nodes) else None)
        return scored(pos[picks.cpu()])


register_selector("gcnal")(SequentialGCN)


@register_selector("coregcn")
class CoreGCN(SequentialGCN):
    """CoreGCN: k-center greedy on the GCN's hidden features, labeled nodes as initial centers
    (the same strategy as ``gcnal``)."""

    alias_of = "gcnal"


@register_selector("uncertaingcn")
class UncertainGCN(SequentialGCN):
    """UncertainGCN: the unlabeled nodes whose labeled-vs-unlabeled score is closest to s_margin."""

    variant = "uncertain"
