"""2D images: PNG 8/16-bit and TIFF float32 round trips, JPEG reading, stacks, bad files."""

from __future__ import annotations

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile

from angiogen.errors import InputError
from angiogen.io import read_image, read_image_stack, write_png, write_tiff


def _ramp(rows=20, cols=30) -> np.ndarray:
    """(H, W) float intensities spanning [0, 1] exactly."""
    return np.linspace(0.0, 1.0, rows * cols).reshape(rows, cols)


@pytest.mark.parametrize("bits", [8, 16])
def test_png_round_trip_to_quantisation_step(tmp_path, bits):
    image = _ramp()
    path = write_png(tmp_path / f"ramp{bits}.png", image, bits=bits)
    stored = iio.imread(path)
    assert stored.dtype == (np.uint8 if bits == 8 else np.uint16)
    back = read_image(path)
    assert back.dtype == np.float32 and back.shape == (20, 30)
    step = 1.0 / (2**bits - 1)
    assert np.max(np.abs(back - image)) <= step / 2 + 1e-7
    assert back.min() == 0.0 and back.max() == 1.0


def test_png_clips_out_of_range_values(tmp_path):
    back = read_image(write_png(tmp_path / "c.png", np.array([[-0.5, 0.5, 1.7]]), bits=16))
    np.testing.assert_allclose(back, [[0.0, 0.5, 1.0]], atol=1e-5)


def test_tiff_float32_keeps_physical_units(tmp_path):
    rng = np.random.default_rng(0)
    line_integrals = (rng.random((16, 12)) * 7.5 - 0.3).astype(np.float32)  # not in [0, 1]
    back = read_image(write_tiff(tmp_path / "proj.tif", line_integrals))
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, line_integrals)


def test_uint16_tiff_scaled_by_dtype_max(tmp_path):
    path = tmp_path / "raw.tiff"
    tifffile.imwrite(path, np.array([[0, 32768, 65535]], np.uint16))
    np.testing.assert_allclose(read_image(path), [[0.0, 32768 / 65535, 1.0]], rtol=1e-6)


def test_jpeg_read_grey_and_colour(tmp_path):
    grey = np.full((16, 16), 128, np.uint8)
    iio.imwrite(tmp_path / "grey.jpg", grey)
    back = read_image(tmp_path / "grey.jpg")
    assert back.shape == (16, 16) and back.dtype == np.float32
    np.testing.assert_allclose(back, 128 / 255, atol=2 / 255)  # lossy, but flat areas survive
    colour = np.zeros((8, 8, 3), np.uint8)
    colour[..., 0] = 255  # pure red: luminance 0.299
    iio.imwrite(tmp_path / "red.jpeg", colour, quality=100)
    np.testing.assert_allclose(read_image(tmp_path / "red.jpeg"), 0.299, atol=0.02)


def test_stack_from_folder_in_natural_order(tmp_path):
    for index in (1, 2, 10):
        write_png(tmp_path / f"frame{index}.png", np.full((5, 4), index / 10), bits=16)
    (tmp_path / "notes.txt").write_text("ignored")
    stack = read_image_stack(tmp_path)
    assert stack.shape == (3, 5, 4) and stack.dtype == np.float32
    np.testing.assert_allclose(stack[:, 0, 0], [0.1, 0.2, 1.0], atol=1e-4)  # frame2 before frame10


def test_stack_from_paths_keeps_given_order(tmp_path):
    paths = [write_png(tmp_path / f"{name}.png", np.full((3, 3), value)) for name, value in (("b", 0.0), ("a", 1.0))]
    np.testing.assert_allclose(read_image_stack(paths)[:, 0, 0], [0.0, 1.0])


def test_stack_with_mismatched_sizes_refused(tmp_path):
    first = write_png(tmp_path / "f1.png", np.zeros((5, 4)))
    second = write_png(tmp_path / "f2.png", np.zeros((5, 6)))
    with pytest.raises(InputError, match="differs") as caught:
        read_image_stack([first, second])
    assert "f2.png" in str(caught.value)


def test_empty_folder_refused(tmp_path):
    with pytest.raises(InputError, match="no image files"):
        read_image_stack(tmp_path)


def test_missing_and_wrong_extension(tmp_path):
    with pytest.raises(InputError, match="no such file") as caught:
        read_image(tmp_path / "absent.png")
    assert "absent.png" in str(caught.value)
    (tmp_path / "frame.bmp").write_bytes(b"BM")
    with pytest.raises(InputError, match=r"\.png") as caught:
        read_image(tmp_path / "frame.bmp")
    assert "frame.bmp" in str(caught.value)


@pytest.mark.parametrize("name", ["bad.png", "bad.jpg", "bad.tif"])
def test_wrong_content(tmp_path, name):
    (tmp_path / name).write_text("not an image at all\n" * 10)
    with pytest.raises(InputError, match="not a readable") as caught:
        read_image(tmp_path / name)
    assert name in str(caught.value)


def test_truncated_png(tmp_path):
    rng = np.random.default_rng(0)
    path = write_png(tmp_path / "noise.png", rng.random((64, 64)), bits=16)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    with pytest.raises(InputError, match="truncated") as caught:
        read_image(path)
    assert "noise.png" in str(caught.value)


@pytest.mark.parametrize("bits", [8, 16])
def test_png_writer_refuses_existing_file_and_leaves_it_unchanged(tmp_path, bits):
    path = write_png(tmp_path / "img.png", np.zeros((4, 4)), bits=bits)
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists") as caught:
        write_png(path, np.ones((4, 4)), bits=bits)
    assert "img.png" in str(caught.value)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["img.png"]


def test_tiff_writer_refuses_existing_file_and_leaves_it_unchanged(tmp_path):
    path = write_tiff(tmp_path / "img.tif", np.zeros((4, 4)))
    before = path.read_bytes()
    with pytest.raises(InputError, match="exists"):
        write_tiff(path, np.ones((4, 4)))
    assert path.read_bytes() == before
    write_tiff(path, np.ones((4, 4)), overwrite=True)
    np.testing.assert_array_equal(read_image(path), np.ones((4, 4)))
