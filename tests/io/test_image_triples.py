"""uncrop's user folders: A / B / mask triples paired by name, grey reading, mask binarising, group splits."""

from __future__ import annotations

import logging
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from angiogen.errors import InputError
from angiogen.io.image_triples import (IMAGE_FILE_SUFFIXES, ImageTriple, binarise_mask, pair_folders, read_grey,
                                       read_plain_folder, split_triples)

SIZE = (24, 32)  # H, W


def _image(seed: int, shape: tuple[int, int] = SIZE) -> np.ndarray:
    """A smooth grey image in [0.1, 0.9] (smooth, so that resampling and JPEG change it little)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:shape[0], 0:shape[1]] / max(shape)
    a, b = rng.uniform(1.0, 4.0, 2)
    return (0.5 + 0.4 * np.sin(a * x + b * y)).astype(np.float32)


def _mask(shape: tuple[int, int] = SIZE, box: tuple[int, int, int, int] = (6, 18, 8, 22)) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[box[0]:box[1], box[2]:box[3]] = True
    return mask


def _png(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8), extension=".png")
    return path


def _png_mask(path: Path, mask: np.ndarray) -> Path:
    return _png(path, mask.astype(np.float32))


def _layout(root: Path, names: list[str], full: str = "A", collimated: str = "B", masks: str = "masks",
            mask_name: str = "{}.png") -> tuple[Path, Path, Path]:
    for i, name in enumerate(names):
        _png(root / full / f"{name}.png", _image(i))
        _png(root / collimated / f"{name}.png", 0.5 * _image(i))
        _png_mask(root / masks / mask_name.format(name), _mask())
    return root / full, root / collimated, root / masks


# ---------------------------------------------------------------------------------------------------- pairing


def test_a_b_masks_layout_pairs_by_name_in_natural_order(tmp_path: Path) -> None:
    full, collimated, masks = _layout(tmp_path, ["img10", "img2", "img1"])
    triples = pair_folders(full, collimated, masks)
    assert [t.name for t in triples] == ["img1", "img2", "img10"]
    for triple in triples:
        assert isinstance(triple, ImageTriple)
        assert triple.full.shape == triple.collimated.shape == triple.mask.shape == SIZE
        assert triple.full.dtype == triple.collimated.dtype == np.float32 and triple.mask.dtype == bool
        np.testing.assert_array_equal(triple.mask, _mask())
        assert set(triple.paths) == {"full", "collimated", "mask"}
        assert triple.paths["collimated"].parent == collimated
    i = 1  # img2 was written from _image(1)
    np.testing.assert_allclose(triples[1].full, _image(i), atol=1 / 255)
    np.testing.assert_allclose(triples[1].collimated, 0.5 * _image(i), atol=1 / 255)


def test_split_layout_with_mask_suffix_and_prefix_names(tmp_path: Path) -> None:
    full, collimated, masks = _layout(tmp_path, ["img1", "img2"], "train_A", "train_B", "masks_trainset",
                                      mask_name="{}_mask.png")
    (masks / "img2_mask.png").rename(masks / "mask_img2.png")
    triples = pair_folders(full, collimated, masks)
    assert [t.name for t in triples] == ["img1", "img2"]
    assert triples[1].paths["mask"].name == "mask_img2.png"


def test_collimated_and_masks_without_full_and_full_alone(tmp_path: Path) -> None:
    full, collimated, masks = _layout(tmp_path, ["a", "b"])
    triples = pair_folders(None, collimated, masks)
    assert all(t.full is None and t.mask is not None for t in triples)
    assert [t.full is not None for t in pair_folders(full, None, None)] == [True, True]
    with pytest.raises(InputError, match="mask folder alone"):
        pair_folders(None, None, masks)
    with pytest.raises(InputError, match="no input folder"):
        pair_folders(None, None, None)


def test_mixed_formats_png_tiff_jpeg_dicom(tmp_path: Path) -> None:
    from angiogen.io import write_dicom_xa

    a, b = tmp_path / "A", tmp_path / "B"
    a.mkdir(), b.mkdir()
    truth = [_image(i) for i in range(4)]
    _png(a / "n1.png", truth[0])
    tifffile.imwrite(a / "n2.TIF", np.rint(truth[1] * 65535).astype(np.uint16))
    iio.imwrite(a / "n3.jpg", np.rint(truth[2] * 255).astype(np.uint8), extension=".jpg", quality=95)
    write_dicom_xa(a / "n4.dcm", 1000.0 + 3000.0 * truth[3])  # stored range = its own min / max
    for i in range(4):
        tifffile.imwrite(b / f"n{i + 1}.tiff", (0.5 * truth[i]).astype(np.float32))  # float in [0, 1]: kept
    triples = pair_folders(a, b, None)
    assert [t.name for t in triples] == ["n1", "n2", "n3", "n4"]
    tolerances = [1 / 255, 1e-4, 0.03, None]
    for triple, image, tol in zip(triples, truth, tolerances):
        if tol is None:  # DICOM: min / max of the stored range map to 0 and 1
            expected = (image - image.min()) / (image.max() - image.min())
            np.testing.assert_allclose(triple.full, expected, atol=1e-3)
        else:
            np.testing.assert_allclose(triple.full, image, atol=tol)
        np.testing.assert_allclose(triple.collimated, 0.5 * image, atol=1e-6)


def test_float_tiff_outside_unit_range_is_scaled_by_its_min_max(tmp_path: Path) -> None:
    image = _image(0)
    tifffile.imwrite(tmp_path / "f.tif", (10.0 * image - 3.0).astype(np.float32))
    expected = (image - image.min()) / (image.max() - image.min())
    np.testing.assert_allclose(read_grey(tmp_path / "f.tif"), expected, atol=1e-5)


def test_multi_frame_dicom_is_refused(tmp_path: Path) -> None:
    from angiogen.io import write_dicom_xa

    path = write_dicom_xa(tmp_path / "run.dcm", np.stack([_image(0), _image(1)]))
    with pytest.raises(InputError, match="multi-frame") as caught:
        read_grey(path)
    assert "run.dcm" in str(caught.value)


def test_rgb_with_equal_channels_is_grey_and_differing_channels_are_refused(tmp_path: Path) -> None:
    grey = np.rint(_image(0) * 255).astype(np.uint8)
    iio.imwrite(tmp_path / "rgb.png", np.stack([grey] * 3, axis=-1), extension=".png")
    iio.imwrite(tmp_path / "rgba.png", np.stack([grey] * 3 + [np.full_like(grey, 255)], axis=-1),
                extension=".png")
    np.testing.assert_allclose(read_grey(tmp_path / "rgb.png"), grey / 255.0, atol=1e-6)
    np.testing.assert_allclose(read_grey(tmp_path / "rgba.png"), grey / 255.0, atol=1e-6)
    iio.imwrite(tmp_path / "rgb.jpg", np.stack([grey] * 3, axis=-1), extension=".jpg", quality=90)
    assert read_grey(tmp_path / "rgb.jpg").shape == SIZE  # JPEG's colour rounding is still grey
    colour = np.stack([grey, grey, grey // 2], axis=-1)
    iio.imwrite(tmp_path / "colour.png", colour, extension=".png")
    with pytest.raises(InputError, match="colour image with differing channels") as caught:
        read_grey(tmp_path / "colour.png")
    assert "colour.png" in str(caught.value)


def test_truncated_png_is_refused_naming_the_file(tmp_path: Path) -> None:
    full, collimated, masks = _layout(tmp_path, ["x1", "x2"])
    path = collimated / "x2.png"
    rng = np.random.default_rng(0)
    _png(path, rng.random(SIZE))  # noise: compresses badly, so half the file cuts into the pixel data
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(InputError, match="truncated") as caught:
        pair_folders(full, collimated, masks)
    assert "x2.png" in str(caught.value)
    assert caught.value.exit_code == 2


# ---------------------------------------------------------------------------------------------------- masks


def test_jpeg_ringing_mask_is_binarised_to_the_truth(tmp_path: Path) -> None:
    truth = _mask((64, 80), (10, 41, 17, 60))
    path = tmp_path / "m.jpg"
    iio.imwrite(path, np.where(truth, 255, 0).astype(np.uint8), extension=".jpg", quality=50)
    raw = read_grey(path)
    assert np.unique(raw).size > 2  # the JPEG really rings
    opening = binarise_mask(raw, path)
    iou = np.logical_and(opening, truth).sum() / np.logical_or(opening, truth).sum()
    assert iou > 0.98


def test_label_mask_with_values_0_and_1_and_specks(tmp_path: Path) -> None:
    truth = _mask()
    iio.imwrite(tmp_path / "label.png", truth.astype(np.uint8), extension=".png")  # 0 / 1, not 0 / 255
    np.testing.assert_array_equal(binarise_mask(read_grey(tmp_path / "label.png"), "label.png"), truth)
    specked = truth.astype(np.float32)
    specked[1, 1] = 1.0  # a white speck far from the opening
    specked[10, 12] = 0.0  # a hole in the opening
    np.testing.assert_array_equal(binarise_mask(specked, "m.png"), truth)
    greyish = np.where(truth, 0.55, 0.45).astype(np.float32)  # the threshold is mid-grey
    np.testing.assert_array_equal(binarise_mask(greyish, "m.png"), truth)


@pytest.mark.parametrize("value, problem", [(0, "without an opening"), (255, "open everywhere")])
def test_mask_all_black_or_all_white_is_refused_naming_the_file(tmp_path: Path, value: int, problem: str) -> None:
    full, collimated, masks = _layout(tmp_path, ["c1", "c2"])
    iio.imwrite(masks / "c2.png", np.full(SIZE, value, np.uint8), extension=".png")
    with pytest.raises(InputError, match=problem) as caught:
        pair_folders(full, collimated, masks)
    assert "c2.png" in str(caught.value)


# ---------------------------------------------------------------------------------------------------- partners


def test_missing_partner_names_the_file_and_the_folder(tmp_path: Path) -> None:
    full, collimated, masks = _layout(tmp_path, ["k1", "k2", "k3"])
    (collimated / "k2.png").unlink()
    with pytest.raises(InputError, match="no partner in the collimated folder") as caught:
        pair_folders(full, collimated, masks)
    assert "k2.png" in str(caught.value) and str(collimated) in str(caught.value)
    _png(collimated / "k2.png", _image(0))
    (masks / "k3.png").unlink()
    with pytest.raises(InputError, match="no partner in the mask folder") as caught:
        pair_folders(full, collimated, masks)
    assert "k3.png" in str(caught.value)
    _png_mask(masks / "k3.png", _mask())
    _png_mask(masks / "stray_mask.png", _mask())  # a mask without an image
    with pytest.raises(InputError, match="no partner in the full-field folder") as caught:
        pair_folders(full, collimated, masks)
    assert "stray_mask.png" in str(caught.value)


def test_duplicate_names_and_empty_folders_are_refused(tmp_path: Path) -> None:
    full, collimated, masks = _layout(tmp_path, ["d1"])
    tifffile.imwrite(full / "d1.tif", np.zeros(SIZE, np.uint8))
    with pytest.raises(InputError, match="same name as") as caught:
        pair_folders(full, collimated, masks)
    assert "d1" in str(caught.value)
    (full / "d1.tif").unlink()
    _png_mask(masks / "d1_mask.png", _mask())  # d1.png and d1_mask.png both mean d1
    with pytest.raises(InputError, match="same name as"):
        pair_folders(full, collimated, masks)
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    with pytest.raises(InputError, match="no image files") as caught:
        read_plain_folder(empty)
    assert "empty" in str(caught.value)


# ---------------------------------------------------------------------------------------------------- sizes


def test_different_aspect_is_refused_naming_the_file(tmp_path: Path) -> None:
    full, collimated, masks = _layout(tmp_path, ["s1"])
    _png(collimated / "s1.png", _image(0, (24, 24)))
    with pytest.raises(InputError, match="aspect ratio") as caught:
        pair_folders(full, collimated, masks)
    assert "s1.png" in str(caught.value) and str(collimated) in str(caught.value)


def test_slight_size_difference_is_resampled_with_a_warning(tmp_path: Path, caplog) -> None:
    full, collimated, masks = _layout(tmp_path, ["r1"])
    _png(collimated / "r1.png", _image(0, (48, 64)))  # same aspect, twice the size
    _png_mask(masks / "r1.png", _mask((12, 16), (3, 9, 4, 11)))  # half the size
    with caplog.at_level(logging.WARNING, logger="angiogen.io.image_triples"):
        (triple,) = pair_folders(full, collimated, masks)
    assert triple.collimated.shape == triple.mask.shape == SIZE
    assert triple.mask.dtype == bool
    np.testing.assert_array_equal(triple.mask, _mask(SIZE, (6, 18, 8, 22)))
    np.testing.assert_allclose(triple.collimated, _image(0, SIZE), atol=0.05)
    warned = " ".join(record.getMessage() for record in caplog.records)
    assert "resampled" in warned and str(collimated / "r1.png") in warned and str(masks / "r1.png") in warned


def test_plain_folder_reads_full_images_only(tmp_path: Path) -> None:
    for i, name in enumerate(["p2", "p10", "p1"]):
        _png(tmp_path / "plain" / f"{name}.png", _image(i))
    triples = read_plain_folder(tmp_path / "plain")
    assert [t.name for t in triples] == ["p1", "p2", "p10"]
    assert all(t.collimated is None and t.mask is None and t.full.shape == SIZE for t in triples)
    assert ".dcm" in IMAGE_FILE_SUFFIXES and ".tiff" in IMAGE_FILE_SUFFIXES


# ---------------------------------------------------------------------------------------------------- split


def _named(names: list[str]) -> list[ImageTriple]:
    return [ImageTriple(name, None, None, None, {}) for name in names]


def test_group_split_keeps_each_patient_on_one_side_and_is_deterministic() -> None:
    names = [f"p{p:02d}_c{c}" for p in range(1, 11) for c in range(1, 1 + p % 3 + 1)]
    triples = _named(names)
    for seed in range(5):
        train, test = split_triples(triples, 0.3, seed=seed, group_pattern=r"^(p\d+)_")
        assert train and test and len(train) + len(test) == len(triples)
        train_patients = {t.name.split("_")[0] for t in train}
        test_patients = {t.name.split("_")[0] for t in test}
        assert not train_patients & test_patients
        assert len(test) >= round(0.3 * len(triples))
        again = split_triples(triples, 0.3, seed=seed, group_pattern=r"^(p\d+)_")
        assert [t.name for t in again[1]] == [t.name for t in test]
    splits = {tuple(t.name for t in split_triples(triples, 0.3, seed=s, group_pattern=r"^(p\d+)_")[1])
              for s in range(5)}
    assert len(splits) > 1  # the seed matters
    train, test = split_triples(_named(["a", "b", "c", "d", "e"]), 0.2, seed=1)  # each name its own group
    assert len(test) == 1 and len(train) == 4


def test_split_errors_unmatched_names_and_too_little_data() -> None:
    with pytest.raises(InputError, match="do not match the group pattern.*'scan7'"):
        split_triples(_named(["p01_c1", "scan7"]), group_pattern=r"^(p\d+)_")
    with pytest.raises(InputError, match="too little data"):
        split_triples(_named(["p01_c1", "p01_c2"]), group_pattern=r"^(p\d+)_")
    with pytest.raises(InputError, match="too little data"):
        split_triples(_named(["only"]))
    train, test = split_triples(_named(["x", "y"]), 0.9)  # two groups: one on each side
    assert len(train) == len(test) == 1
    with pytest.raises(InputError, match="invalid group pattern"):
        split_triples(_named(["x", "y"]), group_pattern="(")


def test_monochrome1_dicom_is_inverted_so_bright_means_bright(tmp_path: Path) -> None:
    import pydicom

    from angiogen.io import write_dicom_xa

    image = _image(2)
    path = write_dicom_xa(tmp_path / "m1.dcm", image)
    dataset = pydicom.dcmread(path)
    dataset.PhotometricInterpretation = "MONOCHROME1"
    dataset.save_as(path)
    expected = (image - image.min()) / (image.max() - image.min())
    np.testing.assert_allclose(read_grey(path), 1.0 - expected, atol=1e-3)
