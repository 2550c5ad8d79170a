"""Contrast bolus: gamma-variate time-density curves filling a vessel tree along path length (docs/methods/engine.md §2.3).

The contrast front reaches a point at path length s from the root at t_a(s) = t_inj + integral ds / v; there the
iodine concentration follows the gamma variate

    c(tau) = c_peak (tau / t_p)^a exp(a (1 - tau / t_p)),  tau = t - t_a(s) > 0,  else 0,

which peaks at tau = t_p with value c_peak and integrates to c_peak t_p e^a Gamma(a + 1) / a^(a + 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from angiogen.errors import InputError
from angiogen.synth.tree import VesselTree


@dataclass(frozen=True)
class Bolus:
    """Gamma-variate bolus parameters.

    Args:
        c_peak_mg_ml: peak iodine concentration in mg I / mL. Default 200.
        t_peak_s: time from arrival to peak t_p in seconds. Default 1.
        alpha: gamma-variate shape a (> 0). Default 3.
        t_inject_s: injection time at the root in seconds. Default 0.
        v_root_mm_s: flow speed at the root in mm/s. Default 200.
        murray_speed: if True, v = v_root (d / d_root)^(k - 2) (flow proportional to d^k); else constant.
        k: Murray exponent for ``murray_speed``. Default 3.
    """

    c_peak_mg_ml: float = 200.0
    t_peak_s: float = 1.0
    alpha: float = 3.0
    t_inject_s: float = 0.0
    v_root_mm_s: float = 200.0
    murray_speed: bool = False
    k: float = 3.0

    def __post_init__(self) -> None:
        for name in ("c_peak_mg_ml", "t_peak_s", "alpha", "v_root_mm_s", "k"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InputError(f"bolus {name} must be positive, got {value}")

    def curve(self, tau_s: np.ndarray) -> np.ndarray:
        """Concentration in mg/mL at time ``tau_s`` after arrival (any shape; 0 for tau <= 0)."""
        tau = np.asarray(tau_s, dtype=np.float64)
        ratio = np.maximum(tau, 0.0) / self.t_peak_s
        with np.errstate(divide="ignore", invalid="ignore"):
            value = self.c_peak_mg_ml * np.exp(self.alpha * (np.log(ratio) + 1.0 - ratio))
        return np.where(tau > 0, value, 0.0)

    def area(self) -> float:
        """Closed-form integral of :meth:`curve` over tau in (mg/mL) s."""
        a = self.alpha
        return self.c_peak_mg_ml * self.t_peak_s * math.exp(a) * math.gamma(a + 1.0) / a ** (a + 1.0)

    def arrival_times_s(self, tree: VesselTree, root: int = 0) -> np.ndarray:
        """(N,) arrival time of the contrast front at every node in seconds."""
        tree.require_nonempty()
        if self.murray_speed:
            diameter = tree.radii_mm[tree.edges].mean(axis=1) * 2.0
            speed = self.v_root_mm_s * (diameter / (2.0 * tree.radii_mm[root])) ** (self.k - 2.0)
            return self.t_inject_s + _weighted_path(tree, tree.edge_lengths_mm() / speed, root)
        return self.t_inject_s + tree.path_length_mm(root) / self.v_root_mm_s

    def node_concentration(self, tree: VesselTree, times_s: np.ndarray, root: int = 0) -> np.ndarray:
        """(T, N) iodine concentration in mg/mL at every node for the frame times ``times_s`` (T,)."""
        times = np.atleast_1d(np.asarray(times_s, dtype=np.float64))
        arrival = self.arrival_times_s(tree, root)
        return self.curve(times[:, None] - arrival[None, :])

    def edge_concentration(self, tree: VesselTree, times_s: np.ndarray, root: int = 0) -> np.ndarray:
        """(T, E) iodine concentration per edge (mean of its two nodes) in mg/mL."""
        nodes = self.node_concentration(tree, times_s, root)
        return nodes[:, tree.edges].mean(axis=2)


def _weighted_path(tree: VesselTree, weights: np.ndarray, root: int) -> np.ndarray:
    """Shortest-path sums of per-edge ``weights`` from ``root`` (inf where unreachable)."""
    import scipy.sparse
    import scipy.sparse.csgraph

    graph = scipy.sparse.coo_matrix(
        (np.maximum(weights, 1e-15), (tree.edges[:, 0], tree.edges[:, 1])), shape=(tree.n_nodes,) * 2
    ).tocsr()
    return scipy.sparse.csgraph.dijkstra(graph, directed=False, indices=root)
