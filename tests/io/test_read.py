import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from sklearn_leukemia.io import ImageReadError, read_image

GRAY16 = np.array([[0, 255, 256], [32768, 65535, 1000]], dtype=np.uint16)


def _save(array, path, **kwargs):
    Image.fromarray(array).save(path, **kwargs)
    return path


def _checked(image):
    assert image.dtype == np.uint8
    assert image.ndim == 3 and image.shape[-1] == 3
    assert image.flags.c_contiguous and image.flags.writeable
    return image


@pytest.mark.parametrize("fmt", ["png", "bmp", "tif"])
def test_rgb_round_trip_is_exact(tmp_path, rng, fmt):
    pixels = rng.integers(0, 256, size=(5, 7, 3), dtype=np.uint8)
    path = _save(pixels, tmp_path / f"rgb.{fmt}")
    np.testing.assert_array_equal(_checked(read_image(path)), pixels)


def test_jpeg_is_read_close_to_the_original(tmp_path):
    pixels = np.full((16, 16, 3), (200, 120, 40), dtype=np.uint8)
    path = _save(pixels, tmp_path / "smear.jpg", quality=95)
    image = _checked(read_image(path))
    assert image.shape == (16, 16, 3)
    assert np.abs(image.astype(int) - pixels).max() <= 3


def test_str_and_pathlike_give_the_same_image(tmp_path, rng):
    path = _save(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), tmp_path / "a.png")
    np.testing.assert_array_equal(read_image(str(path)), read_image(Path(path)))


def test_grayscale_is_repeated_over_three_channels(tmp_path, rng):
    gray = rng.integers(0, 256, size=(6, 5), dtype=np.uint8)
    image = _checked(read_image(_save(gray, tmp_path / "gray.png")))
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], gray)


def test_one_bit_image_becomes_black_and_white(tmp_path):
    bits = np.array([[True, False], [False, True]])
    path = tmp_path / "bits.png"
    Image.fromarray(bits).convert("1").save(path)
    image = _checked(read_image(path))
    np.testing.assert_array_equal(image[..., 0], np.where(bits, 255, 0))


@pytest.mark.parametrize("fmt", ["png", "tif"])
def test_palette_image_is_expanded(tmp_path, fmt):
    indices = np.array([[0, 1], [1, 2]], dtype=np.uint8)
    im = Image.fromarray(indices, mode="P")
    palette = [10, 20, 30, 200, 100, 50, 0, 255, 0] + [0] * (256 * 3 - 9)
    im.putpalette(palette)
    path = tmp_path / f"palette.{fmt}"
    im.save(path)
    colours = np.array(palette[:9], dtype=np.uint8).reshape(3, 3)
    np.testing.assert_array_equal(_checked(read_image(path)), colours[indices])


def test_palette_transparency_is_composited_on_white(tmp_path):
    im = Image.fromarray(np.array([[0, 1]], dtype=np.uint8), mode="P")
    im.putpalette([10, 20, 30, 200, 100, 50] + [0] * (256 * 3 - 6))
    path = tmp_path / "transparent.png"
    im.save(path, transparency=0)
    image = read_image(path)
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(image[0, 1], [200, 100, 50])


def test_rgba_is_composited_on_white(tmp_path):
    pixels = np.zeros((1, 3, 4), dtype=np.uint8)
    pixels[..., :3] = (100, 50, 0)
    pixels[..., 3] = (0, 255, 128)
    image = _checked(read_image(_save(pixels, tmp_path / "rgba.png")))
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(image[0, 1], [100, 50, 0])
    # Half transparent: halfway between the colour and white.
    expected = np.rint(np.array([100, 50, 0]) * 128 / 255 + 255 * 127 / 255)
    np.testing.assert_array_equal(image[0, 2], expected)


def test_gray_alpha_is_composited_on_white(tmp_path):
    pixels = np.array([[[100, 0], [100, 255]]], dtype=np.uint8)
    path = tmp_path / "la.png"
    Image.fromarray(pixels, mode="LA").save(path)
    image = _checked(read_image(path))
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(image[0, 1], [100, 100, 100])


def test_cmyk_jpeg_is_converted_to_rgb(tmp_path):
    im = Image.new("CMYK", (8, 8), (0, 255, 255, 0))
    path = tmp_path / "cmyk.jpg"
    im.save(path, quality=95)
    with Image.open(path) as reference:
        expected = np.asarray(reference.convert("RGB"))
    np.testing.assert_array_equal(_checked(read_image(path)), expected)


# 16-bit samples keep their high byte.
GRAY16_AS_UINT8 = np.array([[0, 0, 1], [128, 255, 3]], dtype=np.uint8)


def test_16bit_gray_png_is_scaled_not_clipped(tmp_path):
    path = _save(GRAY16, tmp_path / "gray16.png")
    image = _checked(read_image(path))
    np.testing.assert_array_equal(image[..., 0], GRAY16_AS_UINT8)
    assert image[1, 1, 0] == 255 and image[1, 0, 0] == 128


def test_dim_16bit_image_is_scaled_like_a_bright_one(tmp_path):
    # A scale chosen from the data would leave these values as they are.
    path = _save(np.array([[0, 200, 255]], dtype=np.uint16), tmp_path / "dim.png")
    assert (read_image(path) == 0).all()


def test_16bit_gray_tiff_is_scaled(tmp_path):
    path = tmp_path / "gray16.tif"
    tifffile.imwrite(path, GRAY16)
    image = _checked(read_image(path))
    for channel in range(3):
        np.testing.assert_array_equal(image[..., channel], GRAY16_AS_UINT8)


def test_16bit_rgb_tiff_keeps_each_channel(tmp_path):
    rgb = np.stack([GRAY16, GRAY16[::-1], np.full_like(GRAY16, 65535)], axis=-1)
    path = tmp_path / "rgb16.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    image = _checked(read_image(path))
    np.testing.assert_array_equal(image[..., 0], GRAY16_AS_UINT8)
    np.testing.assert_array_equal(image[..., 1], GRAY16_AS_UINT8[::-1])
    assert (image[..., 2] == 255).all()


def test_planar_rgb_tiff_has_channels_last(tmp_path):
    planes = np.stack(
        [np.full((2, 3), value, dtype=np.uint8) for value in (10, 20, 30)]
    )
    path = tmp_path / "planar.tif"
    tifffile.imwrite(path, planes, photometric="rgb", planarconfig="separate")
    image = _checked(read_image(path))
    assert image.shape == (2, 3, 3)
    np.testing.assert_array_equal(image[0, 0], [10, 20, 30])


@pytest.mark.parametrize("associated", [False, True])
def test_16bit_rgba_tiff_is_composited_on_white(tmp_path, associated):
    rgba = np.zeros((1, 2, 4), dtype=np.uint16)
    rgba[..., 3] = (0, 65535)
    path = tmp_path / "rgba16.tif"
    kind = "assocalpha" if associated else "unassalpha"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=[kind])
    image = _checked(read_image(path))
    np.testing.assert_array_equal(image[0, 0], [255, 255, 255])
    np.testing.assert_array_equal(image[0, 1], [0, 0, 0])


def test_float_tiff_in_unit_range_is_scaled_by_255(tmp_path):
    values = np.array([[0.0, 0.5], [1.0, 0.25]], dtype=np.float32)
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, values)
    image = _checked(read_image(path))
    np.testing.assert_array_equal(image[..., 0], np.rint(values * 255))


def test_float_rgb_tiff_is_read(tmp_path):
    values = np.zeros((2, 2, 3), dtype=np.float32)
    values[..., 1] = 1.0
    path = tmp_path / "float_rgb.tif"
    tifffile.imwrite(path, values, photometric="rgb")
    np.testing.assert_array_equal(read_image(path)[0, 0], [0, 255, 0])


@pytest.mark.parametrize(
    "values, match",
    [
        (np.array([[0.0, 255.0]], dtype=np.float32), r"range over \[0, 255\]"),
        (np.array([[-0.5, 0.5]], dtype=np.float32), r"expected \[0, 1\]"),
        (np.array([[np.nan, 0.5]], dtype=np.float32), "NaN"),
    ],
)
def test_float_tiff_out_of_range_is_refused(tmp_path, values, match):
    path = tmp_path / "bad_float.tif"
    tifffile.imwrite(path, values)
    with pytest.raises(ImageReadError, match=match):
        read_image(path)


def test_signed_integer_tiff_is_refused(tmp_path):
    path = tmp_path / "signed.tif"
    tifffile.imwrite(path, np.array([[-5, 300]], dtype=np.int16))
    with pytest.raises(ImageReadError, match="int16"):
        read_image(path)


def test_tiff_with_five_channels_is_refused(tmp_path):
    path = tmp_path / "five.tif"
    tifffile.imwrite(
        path,
        np.zeros((4, 4, 5), np.uint8),
        photometric="minisblack",
        planarconfig="contig",
    )
    with pytest.raises(ImageReadError, match="5 sample"):
        read_image(path)


def test_multipage_tiff_gives_its_first_page(tmp_path):
    pages = np.stack([np.full((4, 5), 40, np.uint8), np.full((4, 5), 90, np.uint8)])
    path = tmp_path / "pages.tif"
    tifffile.imwrite(path, pages, photometric="minisblack")
    image = read_image(path)
    assert image.shape == (4, 5, 3) and (image == 40).all()


def test_exif_orientation_is_applied(tmp_path):
    # Stored 16 wide and 8 high, left half red; orientation 6 means the
    # camera was turned: shown rotated 90 degrees clockwise, red on top.
    pixels = np.zeros((8, 16, 3), dtype=np.uint8)
    pixels[:, :8] = (255, 0, 0)
    pixels[:, 8:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "turned.jpg"
    Image.fromarray(pixels).save(path, exif=exif, quality=95)
    image = _checked(read_image(path))
    assert image.shape == (16, 8, 3)
    assert image[2, 4, 0] > 200 and image[2, 4, 2] < 60
    assert image[13, 4, 2] > 200 and image[13, 4, 0] < 60


def test_reading_never_modifies_the_file(tmp_path, rng):
    exif = Image.Exif()
    exif[0x0112] = 6
    path = tmp_path / "smear.jpg"
    Image.fromarray(rng.integers(0, 256, (32, 48, 3), dtype=np.uint8)).save(
        path, exif=exif
    )
    before, stat = path.read_bytes(), path.stat()
    read_image(path)
    read_image(path, min_size=4)
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == stat.st_mtime_ns


def test_min_size_decodes_a_smaller_but_big_enough_jpeg(tmp_path, rng):
    pixels = rng.integers(0, 256, size=(48, 64, 3), dtype=np.uint8)
    path = _save(pixels, tmp_path / "big.jpg")
    full = read_image(path)
    assert full.shape == (48, 64, 3)
    small = _checked(read_image(path, min_size=10))
    assert 10 <= min(small.shape[:2]) < 48
    # The aspect ratio is kept.
    assert small.shape[1] * 48 == small.shape[0] * 64


def test_min_size_larger_than_the_image_gives_full_size(tmp_path, rng):
    path = _save(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), tmp_path / "a.jpg")
    assert read_image(path, min_size=100).shape == (24, 32, 3)


def test_min_size_is_ignored_by_formats_without_reduced_decoding(tmp_path, rng):
    path = _save(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8), tmp_path / "a.png")
    assert read_image(path, min_size=4).shape == (24, 32, 3)


@pytest.mark.parametrize("min_size", [0, -3, 2.5, True, "10"])
def test_invalid_min_size_is_refused(tmp_path, rng, min_size):
    path = _save(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), tmp_path / "a.png")
    with pytest.raises(ValueError, match="min_size"):
        read_image(path, min_size=min_size)


def test_path_of_the_wrong_type_is_refused():
    with pytest.raises(TypeError, match="path must be a str or os.PathLike"):
        read_image(42)


def _assert_read_error(path, match):
    with pytest.raises(ImageReadError, match=match) as info:
        read_image(path)
    err = info.value
    assert isinstance(err, ValueError) and isinstance(err, OSError)
    assert err.path == os.fspath(path)
    assert os.path.basename(path) in str(err)
    return err


def test_missing_file(tmp_path):
    _assert_read_error(tmp_path / "nowhere.png", "no such file")


def test_directory(tmp_path):
    folder = tmp_path / "folder.png"
    folder.mkdir()
    _assert_read_error(folder, "directory")


def test_empty_file(tmp_path):
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    _assert_read_error(path, "empty")


def test_text_file_named_png(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not an image\n")
    _assert_read_error(path, "not an image")


def test_truncated_jpeg(tmp_path, rng):
    path = _save(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), tmp_path / "t.jpg")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    _assert_read_error(path, "corrupt or truncated")


def test_truncated_tiff(tmp_path, rng):
    path = tmp_path / "t.tif"
    tifffile.imwrite(path, rng.integers(0, 65535, (64, 64, 3), dtype=np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[:400])
    _assert_read_error(path, "t.tif")


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0,
    reason="file permissions do not apply to root",
)
def test_unreadable_file(tmp_path, rng):
    path = _save(rng.integers(0, 256, (4, 4, 3), dtype=np.uint8), tmp_path / "a.png")
    path.chmod(0)
    try:
        _assert_read_error(path, "cannot be opened")
    finally:
        path.chmod(0o644)


def test_read_error_names_a_numpy_file_name_as_a_plain_path(tmp_path):
    # File names usually come from an array (load_image_folder's filenames);
    # the message must read 'a.png', not np.str_('a.png').
    missing = np.asarray([str(tmp_path / "a.png")])[0]
    with pytest.raises(ImageReadError) as info:
        read_image(missing)
    assert type(info.value.path) is str
    assert str(info.value) == f"cannot read image file {str(missing)!r}: no such file"


def test_read_error_survives_pickling():
    err = ImageReadError("/data/a.png", "the file is empty (0 bytes)")
    copy = pickle.loads(pickle.dumps(err))
    assert type(copy) is ImageReadError
    assert (copy.path, copy.reason, str(copy)) == (err.path, err.reason, str(err))


def test_real_image_matches_pillow(shared_data_dir):
    path = sorted((shared_data_dir / "all-taleqani" / "Benign").glob("*.jpg"))[0]
    with Image.open(path) as im:
        expected = np.asarray(im.convert("RGB"))
    image = _checked(read_image(path))
    np.testing.assert_array_equal(image, expected)
    smaller = read_image(path, min_size=min(image.shape[:2]) // 4)
    assert min(image.shape[:2]) // 4 <= min(smaller.shape[:2]) < min(image.shape[:2])


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "smear.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageReadError, match=r"it is a FIFO \(named pipe\), not a "
                       "regular file"):
        read_image(fifo)
