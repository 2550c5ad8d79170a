"""Circle-of-Willis generator: ring topology, variants, anatomy, TOF-MRA-like image, labels and the CLI."""

import json
import os

import numpy as np
import pytest
import scipy.sparse
import scipy.sparse.csgraph
from typer.testing import CliRunner

from angiogen.cli import app
from angiogen.cli import main as cli_main
from angiogen.errors import InputError
from angiogen.io.nifti import read_nifti
from angiogen.synth.batch import run_batch
from angiogen.synth.tree import VesselTree
from angiogen.synth.willis import (
    FIELD_MM,
    LABELS,
    RING,
    SEGMENTS,
    VARIANT_FREQUENCIES,
    VARIANTS,
    grid_field_mm,
    grid_shape,
    nifti_order,
    resolve_variant,
    rician_noise,
    willis_affine,
    willis_sample,
    willis_tree,
)

SMALL = {"shape": (16, 64, 64), "spacing_mm": 1.2}  # the vessel3d CPU preset


def _components(tree: VesselTree) -> int:
    graph = scipy.sparse.coo_matrix((np.ones(tree.n_edges), tuple(tree.edges.T)), shape=(tree.n_nodes,) * 2)
    return scipy.sparse.csgraph.connected_components(graph, directed=False)[0]


def _independent_cycles(tree: VesselTree) -> int:
    return tree.n_edges - tree.n_nodes + _components(tree)


def _present(tree: VesselTree) -> set[str]:
    return {SEGMENTS[int(label)] for label in np.unique(tree.edge_segment)}


def _two_core_segments(tree: VesselTree) -> set[str]:
    """Segments of the edges left after pruning leaves until none is left: the cycles of the graph."""
    keep = np.ones(tree.n_edges, dtype=bool)
    while True:
        degree = np.bincount(tree.edges[keep].reshape(-1), minlength=tree.n_nodes)
        leaf_edges = keep & (degree[tree.edges] == 1).any(axis=1)
        if not leaf_edges.any():
            return {SEGMENTS[int(label)] for label in np.unique(tree.edge_segment[keep])}
        keep &= ~leaf_edges


def _segment_radius(tree: VesselTree, name: str) -> float:
    """Median radius of the nodes that belong to segment ``name`` alone (no junctions)."""
    edges = tree.edges[tree.edge_segment == LABELS[name]]
    others = np.unique(tree.edges[tree.edge_segment != LABELS[name]])
    own = np.setdiff1d(np.unique(edges), others)
    return float(np.median(tree.radii_mm[own]))


def test_complete_ring_is_one_cycle_through_the_ring_segments():
    tree = willis_tree("complete", seed=4)
    assert _components(tree) == 1 and _independent_cycles(tree) == 1
    assert _two_core_segments(tree) == set(RING) | {"ICA_L", "ICA_R"}  # the ring runs through the ICA ends
    degree = tree.node_degree()
    # Junctions: PCOM origin, ICA end, ACOM ends, M1 end, P1/P2 (x2 sides), BA origin and tip.
    assert (degree >= 3).sum() == 12 and degree.min() >= 1 and degree.max() <= 4
    n_m2 = int(sum(degree[tree.edges[tree.edge_segment == LABELS[f"M1_{side}"]][-1, 1]] - 1 for side in "LR"))
    assert 4 <= n_m2 <= 6
    assert (degree == 1).sum() == 4 + 2 + 2 + n_m2  # inflow ICA/VA, A2, P2 and M2 ends
    assert len(tree.meta["inflow_nodes"]) == 4 and all(degree[tree.meta["inflow_nodes"]] == 1)


@pytest.mark.parametrize("variant", [name for name in VARIANTS if name != "complete"])
def test_each_variant_removes_exactly_its_segments(variant):
    complete, tree = willis_tree("complete", seed=2, index=5), willis_tree(variant, seed=2, index=5)
    missing = set(VARIANTS[variant])
    assert _present(complete) == set(SEGMENTS.values())
    assert _present(tree) == set(SEGMENTS.values()) - missing and set(tree.meta["missing"]) == missing
    assert tree.segment_names == SEGMENTS  # label ids never change
    assert _independent_cycles(tree) == 0
    assert _components(tree) == (2 if variant == "missing_pcom_both" else 1)  # carotid and basilar systems apart
    for name in _present(tree):  # the rest of the anatomy is the same
        edges_a = complete.edges[complete.edge_segment == LABELS[name]]
        edges_b = tree.edges[tree.edge_segment == LABELS[name]]
        assert np.array_equal(complete.positions_mm[edges_a], tree.positions_mm[edges_b]), name
    if variant.startswith("fetal_pcom"):
        side = variant[-1].upper()
        assert _segment_radius(tree, f"PCOM_{side}") > 1.3 * _segment_radius(complete, f"PCOM_{side}")
        assert _segment_radius(tree, f"PCOM_{side}") == pytest.approx(_segment_radius(tree, f"P2_{side}"), rel=0.15)


def test_variant_names_are_checked_and_random_draws_follow_the_frequencies():
    with pytest.raises(InputError, match="variant must be"):
        willis_tree("missing_everything")
    with pytest.raises(InputError, match="too small for the ring"):
        willis_tree("complete", field_mm=(30.0, 30.0, 10.0))
    rng = np.random.default_rng(0)
    draws = [resolve_variant("random", rng) for _ in range(4000)]
    assert set(draws) <= set(VARIANTS)
    assert draws.count("complete") / len(draws) == pytest.approx(VARIANT_FREQUENCIES["complete"], abs=0.03)
    drawn = [willis_tree("random", seed=1, index=2).meta["variant"] for _ in range(2)]
    assert drawn[0] == drawn[1]


def test_every_node_lies_in_the_default_fields_and_carotids_enter_from_below():
    assert grid_field_mm((32, 128, 128), 0.6) == pytest.approx(FIELD_MM)
    assert grid_field_mm((16, 64, 64), 1.2) == pytest.approx(FIELD_MM)
    assert grid_shape(0.6) == (32, 128, 128) and grid_shape(1.2) == (16, 64, 64)
    half = np.asarray(FIELD_MM) / 2
    for index in range(20):
        tree = willis_tree("random", seed=0, index=index)
        assert np.all(np.abs(tree.positions_mm) <= half), index
        ica_ends = [node for node in tree.meta["inflow_nodes"] if node in tree.edges[tree.edge_segment <= 2, 0]]
        assert len(ica_ends) == 2 and np.allclose(tree.positions_mm[ica_ends, 2], -half[2], atol=1e-4)
        ring = np.isin(tree.edge_segment, [LABELS[name] for name in RING])
        ring_points = tree.positions_mm[tree.edges[ring]].reshape(-1, 3)
        span = ring_points.max(axis=0) - ring_points.min(axis=0)
        assert 18 < span[0] < 38 and 18 < span[1] < 38  # an arterial ring of realistic size (mm)


def test_radii_follow_the_anatomy():
    for index in range(6):
        tree = willis_tree("complete", seed=1, index=index)
        radius = {name: _segment_radius(tree, name) for name in SEGMENTS.values()}
        for side in "LR":
            assert radius[f"ICA_{side}"] > radius["BA"] > radius[f"P1_{side}"] > radius[f"PCOM_{side}"]
            assert radius[f"ICA_{side}"] > radius[f"M1_{side}"] > radius[f"M2_{side}"]
            assert radius[f"ICA_{side}"] > radius[f"A1_{side}"] > radius["ACOM"]
            assert 1.7 < radius[f"ICA_{side}"] < 2.3 and 0.45 < radius[f"PCOM_{side}"] < 0.75


def test_samples_depend_only_on_seed_and_index():
    a, b = willis_sample("random", seed=3, index=1, **SMALL), willis_sample("random", seed=3, index=1, **SMALL)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.tree.positions_mm, b.tree.positions_mm)
    assert a.variant == b.variant and np.array_equal(a.labels, b.labels)
    c = willis_sample("random", seed=3, index=2, **SMALL)
    d = willis_sample("random", seed=4, index=1, **SMALL)
    assert not np.array_equal(a.tree.positions_mm[:10], c.tree.positions_mm[:10])
    assert not np.array_equal(a.image, d.image)


def test_rician_noise_has_the_magnitude_moments():
    rng, sigma = np.random.default_rng(0), 0.05
    zero = rician_noise(np.zeros(200_000), sigma, rng)
    assert zero.min() >= 0 and zero.mean() == pytest.approx(sigma * np.sqrt(np.pi / 2), rel=0.01)  # Rayleigh
    for amplitude in (0.05, 1.0):
        magnitude = rician_noise(np.full(200_000, amplitude), sigma, rng)
        assert np.mean(magnitude**2) == pytest.approx(amplitude**2 + 2 * sigma**2, rel=0.01)


def test_tof_image_has_bright_vessels_on_noisy_tissue():
    volume = willis_sample("complete", seed=0, index=0)
    image, occupancy = volume.image, volume.occupancy
    assert image.shape == occupancy.shape == volume.labels.shape == (32, 128, 128) and image.dtype == np.float32
    assert image.min() == 0.0 and image.max() == 1.0
    vessel, tissue = image[occupancy >= 0.95], image[occupancy == 0]
    assert tissue.mean() > 0.1 and vessel.mean() > tissue.mean() + 0.4
    assert np.percentile(vessel, 5) > np.percentile(tissue, 95)
    # Flow-related enhancement fades from the inflow: carotids brighter than the M2 branches.
    core = occupancy >= 0.95
    ica = image[core & np.isin(volume.labels, [LABELS["ICA_L"], LABELS["ICA_R"]])].mean()
    m2 = image[core & np.isin(volume.labels, [LABELS["M2_L"], LABELS["M2_R"]])].mean()
    assert ica > m2 + 0.05
    # Noise: neighbouring tissue voxels differ by about sqrt(2) sigma, not by zero.
    assert 0.01 < np.std(np.diff(image[:, 5:20, 5:20], axis=2)) < 0.2


def test_label_volume_matches_the_tree_segments():
    volume = willis_sample("missing_acom", seed=5, index=0)
    tree, labels = volume.tree, volume.labels
    assert np.array_equal(labels > 0, volume.occupancy >= 0.5)
    assert set(np.unique(labels)) - {0} == set(np.unique(tree.edge_segment))
    assert LABELS["ACOM"] not in labels
    # The voxel holding a segment's own node carries that segment's label.
    inverse = np.linalg.inv(volume.affine)
    hits = []
    for label in np.unique(tree.edge_segment):
        nodes = np.unique(tree.edges[tree.edge_segment == label])
        own = np.setdiff1d(nodes, np.unique(tree.edges[tree.edge_segment != label]))
        voxel = np.rint(tree.positions_mm[own] @ inverse[:3, :3].T + inverse[:3, 3]).astype(int)
        hits.extend(labels[tuple(voxel.T)] == label)
    assert np.mean(hits) > 0.9


def test_affine_is_centred_and_nifti_order_keeps_voxels_in_place():
    affine = willis_affine((32, 128, 128), 0.6)
    assert np.allclose(affine @ [15.5, 63.5, 63.5, 1.0], [0, 0, 0, 1])
    assert np.allclose(affine[:3, 0], [0, 0, 0.6])  # d runs inferior -> superior
    volume = np.random.default_rng(0).random((4, 5, 6))
    data, nifti_affine = nifti_order(volume, willis_affine((4, 5, 6), 1.0))
    assert data.shape == (5, 6, 4) and data[2, 3, 1] == volume[1, 2, 3]
    assert np.allclose(nifti_affine @ [2, 3, 1, 1], willis_affine((4, 5, 6), 1.0) @ [1, 2, 3, 1])


def test_cli_writes_a_willis_sample_that_matches_the_api(tmp_path):
    result = CliRunner().invoke(app, ["--quiet", "--seed", "3", "synth", "vessels", "--generator", "willis",
                                      "--variant", "missing_acom", "--spacing-mm", "1.2", "--out", str(tmp_path),
                                      "--scheduler", "synchronous"])
    assert result.exit_code == 0, result.output
    folder = tmp_path / "vessels_000000"
    assert sorted(os.listdir(folder)) == ["centerlines.vtk", "labels.nii.gz", "occupancy.nii.gz", "sidecar.json",
                                          "tof_mra.nii.gz", "tree.json"]
    expected = willis_sample("missing_acom", seed=3, index=0, **SMALL)
    image, labels = read_nifti(folder / "tof_mra.nii.gz"), read_nifti(folder / "labels.nii.gz")
    assert image.shape == (64, 64, 16) and image.orientation == ("L", "P", "S")
    assert np.array_equal(image.data, nifti_order(expected.image, expected.affine)[0])
    assert np.array_equal(labels.data, nifti_order(expected.labels, expected.affine)[0].astype(np.float32))
    tree = VesselTree.read_json(folder / "tree.json")
    assert LABELS["ACOM"] not in tree.edge_segment and _independent_cycles(tree) == 0
    sidecar = json.loads((folder / "sidecar.json").read_text())
    assert sidecar["variant"] == "missing_acom" and sidecar["labels"]["8"] == "ACOM"
    assert sidecar["params"]["spacing_mm"] == 1.2 and sidecar["grid_shape"] == [64, 64, 16]


def test_willis_shards_equal_one_run(tmp_path):
    params = {"generator": "willis", "spacing_mm": 1.2}
    run_batch("vessels", params, seed=7, out_dir=tmp_path / "whole", n=2, scheduler="synchronous")
    run_batch("vessels", params, seed=7, out_dir=tmp_path / "shard", n=1, start=1, scheduler="synchronous")
    for name in ("tof_mra.nii.gz", "labels.nii.gz", "tree.json", "sidecar.json"):
        whole = (tmp_path / "whole" / "vessels_000001" / name).read_bytes()
        assert whole == (tmp_path / "shard" / "vessels_000001" / name).read_bytes(), name


@pytest.mark.parametrize("args", [
    ["--variant", "missing_everything"],
    ["--spacing-mm", "0"],
    ["--spacing-mm", "0.1"],
])
def test_cli_bad_willis_input_exits_2_and_writes_nothing(tmp_path, capsys, args):
    out = tmp_path / "out"
    code = cli_main(["synth", "vessels", "--generator", "willis", *args, "--out", str(out), "--scheduler",
                     "synchronous"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error:") and len(err.splitlines()) == 1, err
    assert not out.exists()
