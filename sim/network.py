"""The social network, built with networkx generators and held as CSR arrays.

Word of mouth needs only "pick a random tie of customer i", so the graph is kept
as ``indptr``/``indices`` (compressed sparse rows) plus each tie's source.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from .config import Network as NetworkConfig
from .config import NetworkKind


@dataclass(frozen=True)
class SocialNetwork:
    """Undirected ties as CSR; ``mixed`` means talk reaches random people."""

    n: int
    kind: NetworkKind
    indptr: np.ndarray  # int64, n + 1
    indices: np.ndarray  # int32, neighbours, 2 x edges
    source: np.ndarray  # int32, the customer each entry of ``indices`` belongs to

    @property
    def degree(self) -> np.ndarray:
        return np.diff(self.indptr)

    @property
    def edges(self) -> int:
        return len(self.indices) // 2

    @property
    def mixed(self) -> bool:
        return self.kind is NetworkKind.MIXED

    def random_neighbour(self, who: np.ndarray, u: np.ndarray) -> np.ndarray:
        """A uniformly chosen neighbour of each customer in ``who`` (-1 if none)."""
        if self.mixed:
            return np.minimum((u * self.n).astype(np.int64), self.n - 1)
        start = self.indptr[who]
        deg = self.indptr[who + 1] - start
        pick = start + np.minimum((u * deg).astype(np.int64), np.maximum(deg - 1, 0))
        out = np.full(len(who), -1, dtype=np.int64)
        has = deg > 0
        out[has] = self.indices[pick[has]]
        return out

    def to_networkx(self, nodes: np.ndarray | None = None) -> nx.Graph:
        """The graph (or the subgraph on ``nodes``) for drawing."""
        g = nx.Graph()
        keep = np.arange(self.n) if nodes is None else np.asarray(nodes)
        g.add_nodes_from(keep.tolist())
        if not self.mixed and len(self.indices):
            mask = np.zeros(self.n, dtype=bool)
            mask[keep] = True
            sel = mask[self.source] & mask[self.indices] & (self.source < self.indices)
            g.add_edges_from(zip(self.source[sel].tolist(), self.indices[sel].tolist(), strict=True))
        return g


def _graph(cfg: NetworkConfig, n: int, seed: int) -> nx.Graph:
    k = cfg.mean_degree
    match cfg.kind:
        case NetworkKind.WATTS_STROGATZ:
            return nx.watts_strogatz_graph(n, max(k, 2), cfg.rewire, seed=seed)
        case NetworkKind.BARABASI_ALBERT:
            return nx.barabasi_albert_graph(n, max(1, k // 2), seed=seed)
        case NetworkKind.ERDOS_RENYI:
            return nx.fast_gnp_random_graph(n, k / max(n - 1, 1), seed=seed)
    raise ValueError(cfg.kind)


def build_network(cfg: NetworkConfig, n: int, rng: np.random.Generator) -> SocialNetwork:
    """Build the configured network on ``n`` customers from the network stream."""
    if cfg.kind in (NetworkKind.MIXED, NetworkKind.NONE) or cfg.mean_degree == 0:
        empty = np.zeros(0, dtype=np.int32)
        return SocialNetwork(n, cfg.kind, np.zeros(n + 1, dtype=np.int64), empty, empty)
    g = _graph(cfg, n, int(rng.integers(2**31 - 1)))
    e = np.array(g.edges(), dtype=np.int32).reshape(-1, 2)
    return from_edges(n, cfg.kind, e)


def from_edges(n: int, kind: NetworkKind, e: np.ndarray) -> SocialNetwork:
    """CSR arrays from an (m, 2) array of undirected edges."""
    src = np.concatenate([e[:, 0], e[:, 1]])
    dst = np.concatenate([e[:, 1], e[:, 0]])
    order = np.lexsort((dst, src))
    src, dst = src[order].astype(np.int32), dst[order].astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return SocialNetwork(n, kind, indptr, dst, src)
