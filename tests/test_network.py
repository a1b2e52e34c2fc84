"""The vectorized network generators: simple, symmetric, deterministic, and alike networkx's."""

import networkx as nx
import numpy as np
import pytest
from scipy.stats import ks_2samp

from sim.config import Network, NetworkKind
from sim.network import build_network, networkx_graph

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
