"""The vectorized network generators: simple, symmetric, deterministic, and alike networkx's."""

import networkx as nx
import numpy as np
import pytest
from scipy.stats import ks_2samp

from sim.config import NetworkConfig as Network
from sim.config import NetworkKind
from sim.model.network import build_network, from_edges, networkx_graph

KINDS = [
    Network(kind=NetworkKind.BARABASI_ALBERT, mean_degree=6, rewire=0.0),
    Network(kind=NetworkKind.WATTS_STROGATZ, mean_degree=10, rewire=0.1),
    Network(kind=NetworkKind.ERDOS_RENYI, mean_degree=8, rewire=0.0),
]


def build(cfg, n, seed):
    return build_network(cfg, n, np.random.default_rng(seed))


@pytest.mark.parametrize("cfg", KINDS, ids=lambda c: c.kind.value)
def test_graph_is_simple_symmetric_and_deterministic(cfg):
    net = build(cfg, 5000, 3)
    assert not (net.source == net.indices).any()  # no self-loops
    pairs = net.source.astype(np.int64) * net.n + net.indices
    assert len(np.unique(pairs)) == len(pairs)  # no duplicate ties
    assert np.array_equal(np.sort(pairs), np.sort(net.indices.astype(np.int64) * net.n + net.source))  # i~j iff j~i
    assert np.array_equal(net.indices, build(cfg, 5000, 3).indices)
    assert not np.array_equal(net.indices, build(cfg, 5000, 4).indices)


@pytest.mark.parametrize("cfg", KINDS, ids=lambda c: c.kind.value)
def test_degree_distribution_matches_networkx(cfg):
    # Same family, same size: mean degree within 1%, and the two degree distributions
    # indistinguishable by a two-sample Kolmogorov-Smirnov distance below 0.02.
    n = 20000
    ours = build(cfg, n, 1).degree
    ref = np.array([d for _, d in networkx_graph(cfg, n, 1).degree()])
    assert ours.mean() == pytest.approx(ref.mean(), rel=0.01)
    assert ks_2samp(ours, ref, method="asymp").statistic < 0.02


def test_barabasi_albert_has_hubs_like_networkx():
    cfg = KINDS[0]
    n = 20000
    ours = build(cfg, n, 1).degree
    ref = np.array([d for _, d in networkx_graph(cfg, n, 1).degree()])
    assert 0.5 < ours.max() / ref.max() < 2  # the biggest hub, within a factor of two
    assert (ours >= 30).mean() == pytest.approx((ref >= 30).mean(), abs=0.005)  # the heavy tail


def test_watts_strogatz_clustering_matches_networkx():
    cfg = KINDS[1]
    ours = nx.average_clustering(build(cfg, 5000, 1).to_networkx())
    ref = nx.average_clustering(networkx_graph(cfg, 5000, 1))
    assert ours == pytest.approx(ref, abs=0.02)


@pytest.mark.parametrize(
    ("cfg", "rel"),
    # BA: 2m ties per customer less the repeated picks that are dropped (under 0.5% at m=3);
    # WS: k less rewired ties that became self-loops or duplicates (about p*k/n of them);
    # ER: a binomial number of ties, whose standard error at n=20000 is 0.35%, so 2% is over 5 sigma.
    [(KINDS[0], 0.005), (KINDS[1], 0.001), (KINDS[2], 0.02)],
    ids=lambda x: getattr(getattr(x, "kind", None), "value", str(x)),
)
def test_mean_degree_is_nominal(cfg, rel):
    net = build(cfg, 20000, 2)
    assert net.degree.mean() == pytest.approx(cfg.mean_degree, rel=rel)
    assert net.degree.min() >= (1 if cfg.kind is NetworkKind.BARABASI_ALBERT else 0)  # BA is connected


def test_watts_strogatz_without_rewiring_is_the_ring_lattice():
    net = build(Network(kind=NetworkKind.WATTS_STROGATZ, mean_degree=6, rewire=0.0), 1000, 0)
    assert (net.degree == 6).all()
    ring = (net.indices - net.source) % net.n
    assert np.isin(ring, [1, 2, 3, 997, 998, 999]).all()


@pytest.mark.parametrize("kind", [NetworkKind.BARABASI_ALBERT, NetworkKind.WATTS_STROGATZ, NetworkKind.ERDOS_RENYI])
@pytest.mark.parametrize("n", [2, 3, 10])
def test_tiny_networks_are_valid(kind, n):
    net = build(Network(kind=kind, mean_degree=1, rewire=0.5), n, 0)
    assert len(net.indptr) == n + 1 and net.indptr[-1] == len(net.indices) == len(net.source)
    assert not (net.source == net.indices).any()
    assert (np.repeat(np.arange(n), net.degree) == net.source).all()


def test_from_edges_builds_sorted_symmetric_rows():
    net = from_edges(4, NetworkKind.ERDOS_RENYI, np.array([[2, 0], [0, 1], [3, 2]]))
    assert net.indptr.tolist() == [0, 2, 3, 5, 6]
    assert net.indices.tolist() == [1, 2, 0, 0, 3, 2]
    assert net.source.tolist() == [0, 0, 1, 2, 2, 3]
    assert net.edges == 3
