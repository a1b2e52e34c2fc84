"""The social network, built by vectorized generators and held as CSR arrays.

Word of mouth needs only "pick a random tie of customer i", so the graph is kept
as ``indptr``/``indices`` (compressed sparse rows) plus each tie's source.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import numpy as np

from ..config import NetworkConfig, NetworkKind


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


def networkx_graph(cfg: NetworkConfig, n: int, seed: int) -> nx.Graph:
    """The networkx generator of the same family: the reference our generators are tested against."""
    k = cfg.mean_degree
    match cfg.kind:
        case NetworkKind.WATTS_STROGATZ:
            return nx.watts_strogatz_graph(n, max(k, 2), cfg.rewire, seed=seed)
        case NetworkKind.BARABASI_ALBERT:
            return nx.barabasi_albert_graph(n, max(1, k // 2), seed=seed)
        case NetworkKind.ERDOS_RENYI:
            return nx.fast_gnp_random_graph(n, k / max(n - 1, 1), seed=seed)
    raise ValueError(cfg.kind)


def barabasi_albert_edges(n: int, m: int, rng: np.random.Generator) -> np.ndarray:
    """Preferential attachment (Batagelj and Brandes 2005), vectorized.

    Starts, as networkx does, from a star on nodes 0..m; each later node v brings m
    edges whose far ends are picked in proportion to degree, by drawing a uniform
    position in the list of all earlier edge ends. A position holding an earlier
    edge's far end defers to that edge's pick; these chains are resolved by pointer
    jumping. Repeated picks of the same node are dropped (networkx redraws them), so
    a few nodes get fewer than m new ties.
    """
    m = min(m, n - 1)
    if m < 1:
        return np.zeros((0, 2), np.int64)
    k = np.arange(m + (n - m - 1) * m, dtype=np.int64)  # edge index
    src = np.where(k < m, k + 1, m + 1 + (k - m) // m)
    first = np.where(k < m, 0, m + (src - m - 1) * m)  # first edge of the source node
    pos = (rng.random(len(k)) * 2 * first).astype(np.int64)  # an earlier edge end, uniformly
    tgt = np.zeros(len(k), np.int64)  # the star's edges point at node 0
    todo = np.flatnonzero(k >= m)
    while len(todo):
        p = pos[todo]
        near = p % 2 == 0  # the near end of edge p // 2: its source
        tgt[todo[near]] = src[p[near] // 2]
        todo, edge = todo[~near], p[~near] // 2
        star = edge < m  # the far end of a star edge: node 0
        tgt[todo[star]] = 0
        todo, edge = todo[~star], edge[~star]
        pos[todo] = pos[edge]  # the far end of a later edge: that edge's pick
    return np.stack([src, tgt], axis=1)


def watts_strogatz_edges(n: int, k: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """A ring lattice (k/2 neighbours each side) whose far ends are rewired with probability p."""
    half = max(k // 2, 1)
    near = np.repeat(np.arange(n, dtype=np.int64), half)
    far = (near + np.tile(np.arange(1, half + 1), n)) % n
    rewire = rng.random(len(far)) < p
    far[rewire] = rng.integers(0, n, int(rewire.sum()))
    return np.stack([near, far], axis=1)


def erdos_renyi_edges(n: int, k: float, rng: np.random.Generator) -> np.ndarray:
    """G(n, p) with p = k / (n - 1): a binomial number of uniformly drawn pairs."""
    count = rng.binomial(n * (n - 1) // 2, min(k / max(n - 1, 1), 1.0))
    return rng.integers(0, n, size=(count, 2))


def simple(e: np.ndarray, n: int) -> np.ndarray:
    """Undirected edges without self-loops or duplicates, as sorted (low, high) pairs.

    Deduplicates by sorting and comparing neighbours rather than with ``np.unique``,
    which (numpy 2.3+, hash based) is some fifty times slower on millions of int64 keys.
    """
    lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
    keep = lo != hi
    key = np.sort(lo[keep].astype(np.int64) * n + hi[keep])
    key = key[np.concatenate(([True], key[1:] != key[:-1]))] if len(key) else key
    return np.stack([key // n, key % n], axis=1).astype(np.int32)


def build_network(cfg: NetworkConfig, n: int, rng: np.random.Generator) -> SocialNetwork:
    """Build the configured network on ``n`` customers from the network stream."""
    if cfg.kind in (NetworkKind.MIXED, NetworkKind.NONE) or cfg.mean_degree == 0:
        empty = np.zeros(0, dtype=np.int32)
        return SocialNetwork(n, cfg.kind, np.zeros(n + 1, dtype=np.int64), empty, empty)
    k = cfg.mean_degree
    match cfg.kind:
        case NetworkKind.WATTS_STROGATZ:
            e = watts_strogatz_edges(n, max(k, 2), cfg.rewire, rng)
        case NetworkKind.BARABASI_ALBERT:
            e = barabasi_albert_edges(n, max(1, k // 2), rng)
        case _:
            e = erdos_renyi_edges(n, k, rng)
    return from_edges(n, cfg.kind, simple(e, n))


def from_edges(n: int, kind: NetworkKind, e: np.ndarray) -> SocialNetwork:
    """CSR arrays from an (m, 2) array of undirected edges."""
    e = e.astype(np.int64)
    key = np.sort(np.concatenate([e[:, 0] * n + e[:, 1], e[:, 1] * n + e[:, 0]]))  # by source, then neighbour
    src, dst = (key // n).astype(np.int32), (key % n).astype(np.int32)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return SocialNetwork(n, kind, indptr, dst, src)
