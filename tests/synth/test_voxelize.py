"""Voxelisation: the compiled row-by-row path equals the straightforward per-edge evaluation of engine.md 2.2."""

import numpy as np
import pytest

from angiogen.synth.tree import VesselTree
from angiogen.synth.voxelize import grid_affine, voxelize


def profile(rho: np.ndarray, radius: np.ndarray, h: float) -> np.ndarray:
    """Area-preserving radial occupancy: the ramp at r_e = sqrt(r^2 - h^2/12) from r = h/sqrt(3), a cone below."""
    radius = np.broadcast_to(radius, rho.shape)
    ramp = np.clip((np.sqrt(np.maximum(radius**2 - h * h / 12, 0)) - rho) / h + 0.5, 0, 1)
    thin = 3 * radius**2 / h**2 * np.maximum(0, 1 - rho / h)
    return np.where(radius >= h / np.sqrt(3), ramp, thin)


def reference_voxelize(tree: VesselTree, shape: tuple, affine: np.ndarray, edge_values: np.ndarray):
    """Every edge (cone, flat ends, the spheres of the joined nodes it lists first) on every voxel, in float64,
    united by the maximum edge after edge (a later edge wins only when strictly larger).

    Returns occupancy, values, and the runner-up occupancy of each voxel (to tell clear winners from ties).
    """
    h = float(np.sqrt((affine[:3, :3] ** 2).sum(axis=0)).mean())
    index = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1).reshape(-1, 3)
    world = index @ affine[:3, :3].T + affine[:3, 3]
    best, second, values = np.zeros(len(world)), np.zeros(len(world)), np.zeros(len(world))
    owner = {}
    degree = tree.node_degree()
    for edge, nodes in enumerate(tree.edges):
        for node in nodes:
            if degree[node] >= 2:
                owner.setdefault(int(node), edge)
    for edge, (a, b) in enumerate(tree.edges):
        p0, p1 = tree.positions_mm[a], tree.positions_mm[b]
        r0, r1 = tree.radii_mm[a], tree.radii_mm[b]
        offset = world - p0
        length = float(np.linalg.norm(p1 - p0))
        occ = np.zeros(len(world))
        if length > 1e-9:
            t = offset @ ((p1 - p0) / length)
            rho = np.sqrt(np.maximum((offset**2).sum(axis=1) - t**2, 0))
            radius = r0 + (r1 - r0) * np.clip(t / length, 0, 1)
            occ = profile(rho, radius, h) * np.clip(np.minimum(t, length - t) / h + 0.5, 0, 1)
        for node in (a, b):
            if owner.get(int(node)) == edge:
                distance = np.linalg.norm(world - tree.positions_mm[node], axis=1)
                occ = np.maximum(occ, profile(distance, tree.radii_mm[node], h))
        won = occ > best
        second = np.where(won, best, np.maximum(second, occ))
        best[won] = occ[won]
        values[won] = edge_values[edge]
    return best.reshape(shape), values.reshape(shape), second.reshape(shape)


def random_tree(rng: np.random.Generator, n_nodes: int) -> VesselTree:
    """Random tree in a ~32 mm box (partly outside the grid), radii from thin to thick, edges listed and oriented
    at random (so edges own their start sphere, their end sphere, both or none), one zero-length edge."""
    positions = rng.uniform(-2, 34, size=(n_nodes, 3))
    parents = [int(rng.integers(0, node)) for node in range(1, n_nodes)]
    positions[-1] = positions[parents[-1]]  # a zero-length edge
    edges = np.array([[parent, node] for node, parent in zip(range(1, n_nodes), parents)])
    flip = rng.random(len(edges)) < 0.5
    edges[flip] = edges[flip, ::-1]
    return VesselTree(positions, rng.uniform(0.2, 4.0, size=n_nodes), edges[rng.permutation(len(edges))])


def random_affine(rng: np.random.Generator, kind: str) -> np.ndarray:
    """Isotropic, anisotropic or rotated (oblique) voxel-to-world affine around a 32 mm box."""
    if kind == "isotropic":
        return grid_affine(rng.uniform(0.7, 1.3), tuple(rng.uniform(-1, 1, 3)))
    if kind == "anisotropic":
        return grid_affine(tuple(rng.uniform(0.7, 1.3, 3)), tuple(rng.uniform(-1, 1, 3)))
    rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    affine = np.eye(4)
    affine[:3, :3] = rotation * rng.uniform(0.8, 1.2)
    affine[:3, 3] = 16.0 - affine[:3, :3] @ np.full(3, 16.0)
    return affine


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("kind", ["isotropic", "anisotropic", "rotated"])
def test_fast_path_equals_the_straightforward_evaluation(seed, kind):
    rng = np.random.default_rng([seed, len(kind)])
    tree = random_tree(rng, int(rng.integers(3, 12)))
    affine = random_affine(rng, kind)
    shape = (34, 30, 32)
    edge_values = rng.uniform(1.0, 5.0, size=tree.n_edges)
    occupancy, values = voxelize(tree, shape, affine=affine, edge_values=edge_values)
    expected, expected_values, runner_up = reference_voxelize(tree, shape, affine, edge_values)
    assert occupancy.dtype == np.float32 and occupancy.shape == shape
    np.testing.assert_allclose(occupancy, expected, rtol=0, atol=1e-5)
    assert voxelize(tree, shape, affine=affine).tobytes() == occupancy.tobytes()  # same with or without values
    # The value comes from the edge that set the occupancy, wherever one edge clearly did.
    clear = expected - runner_up > 1e-5
    assert clear.sum() > 100
    np.testing.assert_array_equal(values[clear], expected_values[clear].astype(np.float32))
    assert np.all(values[occupancy == 0] == 0)


def test_float64_output_matches_to_rounding():
    rng = np.random.default_rng(11)
    tree = random_tree(rng, 9)
    affine = random_affine(rng, "anisotropic")
    occupancy = voxelize(tree, (34, 30, 32), affine=affine, dtype=np.float64)
    expected, _, _ = reference_voxelize(tree, (34, 30, 32), affine, np.ones(tree.n_edges))
    assert occupancy.dtype == np.float64
    np.testing.assert_allclose(occupancy, expected, rtol=0, atol=1e-9)


def test_tree_outside_the_grid_gives_zeros():
    tree = VesselTree([[100.0, 100, 100], [120, 100, 100]], [2.0, 2.0], [[0, 1]])
    occupancy = voxelize(tree, (16, 16, 16), spacing_mm=1.0)
    assert occupancy.shape == (16, 16, 16) and not occupancy.any()


def test_parallel_slabs_give_the_single_thread_result():
    """Threads paint disjoint slabs of the first axis: the result is bit-identical to one thread's."""
    import numba

    rng = np.random.default_rng(5)
    tree = random_tree(rng, 40)
    affine = random_affine(rng, "rotated")
    edge_values = rng.uniform(1.0, 5.0, size=tree.n_edges)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single, single_values = voxelize(tree, (96, 90, 100), affine=affine, edge_values=edge_values)
        numba.set_num_threads(max(threads, 2) if numba.config.NUMBA_NUM_THREADS >= 2 else 1)
        parallel, parallel_values = voxelize(tree, (96, 90, 100), affine=affine, edge_values=edge_values)
    finally:
        numba.set_num_threads(threads)
    assert single.any()
    assert single.tobytes() == parallel.tobytes() and single_values.tobytes() == parallel_values.tobytes()
