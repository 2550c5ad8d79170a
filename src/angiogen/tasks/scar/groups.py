"""Pixel-prism groups: which mesh nodes lie in each pixel's prism, and that pixel's value as the group target.

A pixel's prism is its in-plane footprint (half-open, so in-plane neighbours never share a node) extruded along
the slice normal over [-T/2 - pad, T/2 + pad). A node joins the group of the one pixel whose footprint contains
its projection onto the slice plane, so its value and its group always come from the same pixel. Overlapping
prisms of different slices (pad > 0, thick slices) give a node several memberships; all are kept.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from angiogen.io.slice_stack import SliceStack


@dataclass
class Groups:
    """Memberships of nodes in pixel groups, sorted by group.

    Attributes:
        member_node: (E,) int64 node index of each membership.
        member_group: (E,) int64 group index of each membership, non-decreasing, covering 0 ... G-1.
        target: (G,) float32 pixel value of each group.
        pixel: (G, 3) int64 (slice, i, j) of each group's pixel; groups are ordered by slice, then i, then j.
        n_nodes: number of mesh nodes N (nodes in no group included).
    """

    member_node: np.ndarray
    member_group: np.ndarray
    target: np.ndarray
    pixel: np.ndarray
    n_nodes: int

    @property
    def n_groups(self) -> int:
        return int(len(self.target))

    @property
    def size(self) -> np.ndarray:
        """(G,) number of nodes in each group."""
        return np.bincount(self.member_group, minlength=self.n_groups)

    @property
    def offsets(self) -> np.ndarray:
        """(G + 1,) start of each group's memberships in the member arrays."""
        return np.concatenate([[0], np.cumsum(self.size)])

    def summary(self) -> dict[str, float | int]:
        """Counts for the user: groups, memberships, nodes per group, nodes in no group."""
        size = self.size
        covered = np.zeros(self.n_nodes, dtype=bool)
        covered[self.member_node] = True
        return {
            "groups": self.n_groups,
            "memberships": int(len(self.member_node)),
            "nodes": self.n_nodes,
            "nodes_in_no_group": int((~covered).sum()),
            "nodes_per_group_mean": float(size.mean()) if len(size) else 0.0,
            "nodes_per_group_min": int(size.min()) if len(size) else 0,
            "nodes_per_group_max": int(size.max()) if len(size) else 0,
            "slices_used": int(len(np.unique(self.pixel[:, 0]))) if len(size) else 0,
        }


def build_groups(
    points_mm: np.ndarray, stack: SliceStack, pad_mm: float = 0.0, slices: np.ndarray | None = None
) -> Groups:
    """Assign mesh nodes to pixel prisms of the slice stack (vectorised over nodes, one pass per slice).

    Args:
        points_mm: (N, 3) node coordinates in mm, in the slices' world frame.
        stack: the slices.
        pad_mm: extra half-thickness added on each side of every slice.
        slices: indices of the slices to use (default all), e.g. to hold slices out.

    Returns:
        :class:`Groups`; a pixel with no node, or not valid in the stack, makes no group.
    """
    points_mm = np.asarray(points_mm, dtype=np.float64)
    n_i, n_j = stack.values.shape[1:]
    slices = np.arange(stack.n_slices) if slices is None else np.asarray(slices, dtype=np.int64)
    node_ids, keys = [], []
    for s in slices:
        i, j, distance = stack.plane_coordinates(points_mm, int(s))
        half = stack.thickness_mm[s] / 2 + pad_mm
        pixel_i = np.floor(i + 0.5).astype(np.int64)  # nearest centre; footprint [i - 0.5, i + 0.5)
        pixel_j = np.floor(j + 0.5).astype(np.int64)
        inside = (
            (distance >= -half) & (distance < half)
            & (pixel_i >= 0) & (pixel_i < n_i) & (pixel_j >= 0) & (pixel_j < n_j)
        )
        inside[inside] = stack.valid[s, pixel_i[inside], pixel_j[inside]]
        nodes = np.flatnonzero(inside)
        node_ids.append(nodes)
        keys.append((int(s) * n_i + pixel_i[nodes]) * n_j + pixel_j[nodes])
    node_ids_all = np.concatenate(node_ids) if node_ids else np.zeros(0, np.int64)
    keys_all = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    unique_keys, group = np.unique(keys_all, return_inverse=True)
    order = np.lexsort((node_ids_all, group))
    pixel = np.stack(np.unravel_index(unique_keys, (stack.n_slices, n_i, n_j)), axis=1).astype(np.int64)
    target = stack.values[pixel[:, 0], pixel[:, 1], pixel[:, 2]].astype(np.float32)
    return Groups(
        member_node=node_ids_all[order].astype(np.int64),
        member_group=group[order].astype(np.int64),
        target=target,
        pixel=pixel,
        n_nodes=len(points_mm),
    )
