import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sklearn_leukemia.io import ImageReadError, read_image
from sklearn_leukemia.preprocessing import (
    ImageReader,
    ImageResizer,
    read_images,
    resize_images,
)


def _write(path, image, **kwargs):
    Image.fromarray(image).save(path, **kwargs)
    return str(path)


@pytest.fixture
def png_files(tmp_path, rng):
    """Six lossless 20x30 RGB files, each a different random picture."""
    images = rng.integers(0, 256, (6, 20, 30, 3), dtype=np.uint8)
    paths = [
        _write(tmp_path / f"cell_{i}.png", image) for i, image in enumerate(images)
    ]
    return paths, images


@pytest.fixture
def bad_file(tmp_path):
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"this is not a JPEG")
    return str(path)


def test_reads_files_in_order(png_files):
    paths, images = png_files
    out = read_images(paths)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, images)
    np.testing.assert_array_equal(read_images(paths[::-1]), images[::-1])


def test_accepts_paths_as_str_pathlike_and_1d_array(png_files):
    paths, images = png_files
    for X in (
        paths,
        [Path(p) for p in paths],
        np.array(paths),
        np.array(paths, object),
    ):
        np.testing.assert_array_equal(ImageReader().fit_transform(X), images)


def test_every_file_layout_becomes_rgb_uint8(tmp_path, rng):
    gray = rng.integers(0, 256, (12, 12), dtype=np.uint8)
    rgba = rng.integers(0, 256, (12, 12, 4), dtype=np.uint8)
    gray16 = rng.integers(0, 65536, (12, 12), dtype=np.uint16)
    paths = [
        _write(tmp_path / "gray.png", gray),
        _write(tmp_path / "rgba.png", rgba),
        _write(tmp_path / "gray16.png", gray16),
        _write(tmp_path / "photo.jpg", rgba[..., :3], quality=95),
    ]
    out = read_images(paths)
    assert out.shape == (4, 12, 12, 3) and out.dtype == np.uint8
    for i, path in enumerate(paths):
        np.testing.assert_array_equal(out[i], read_image(path))
    np.testing.assert_array_equal(out[0], np.dstack([gray] * 3))


def test_image_size_resizes_each_image_as_image_resizer_does(tmp_path, rng):
    images = [
        rng.integers(0, 256, shape, dtype=np.uint8)
        for shape in [(20, 30, 3), (41, 17, 3), (16, 16, 3)]
    ]
    paths = [_write(tmp_path / f"{i}.png", im) for i, im in enumerate(images)]
    out = read_images(paths, image_size=(16, 12))
    assert out.shape == (3, 16, 12, 3)
    np.testing.assert_array_equal(out, resize_images(images, size=(16, 12)))
    np.testing.assert_array_equal(
        ImageReader(image_size=8).transform(paths),
        ImageResizer(size=8).transform(images),
    )


def test_large_jpegs_are_decoded_at_reduced_size(tmp_path):
    # A 256x256 JPEG read for image_size=32 may decode at 1/8 scale; the
    # result must still be close to a full decode followed by a resize.
    ramp = np.linspace(0, 255, 256)
    across, down = np.meshgrid(ramp, ramp)
    smooth = np.dstack([across, down, 255 - down])
    path = _write(tmp_path / "big.jpg", smooth.astype(np.uint8), quality=95)
    out = read_images([path], image_size=32)
    full = resize_images(read_image(path)[None], size=32)
    assert out.shape == (1, 32, 32, 3)
    assert np.abs(out.astype(int) - full).mean() < 1


def test_reader_asks_for_reduced_decoding(png_files, monkeypatch):
    from sklearn_leukemia.preprocessing import _reader

    seen = []
    read_pixels = _reader._read_pixels

    def spy(path, *, min_size=None, size=None):
        seen.append((min_size, size))
        return read_pixels(path, min_size=min_size, size=size)

    monkeypatch.setattr(_reader, "_read_pixels", spy)
    read_images(png_files[0], image_size=(12, 20))
    # The larger side: decoding may not go below the size asked for.
    assert seen == [(20, (12, 20))] * 6
    seen.clear()
    read_images(png_files[0])
    assert seen == [(None, None)] * 6


def test_files_of_different_sizes_need_image_size(tmp_path, rng):
    paths = [
        _write(tmp_path / "a.png", rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)),
        _write(tmp_path / "b.png", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8)),
    ]
    with pytest.raises(ValueError, match=r"b\.png.*12x10.*image_size"):
        read_images(paths)
    with pytest.raises(ValueError, match="image_size"):
        read_images(paths, n_jobs=2)
    assert read_images(paths, image_size=10).shape == (2, 10, 10, 3)


def test_parallel_reading_gives_identical_output(tmp_path, rng):
    # More files than one chunk per worker, each with its index in its pixels,
    # so a chunk written at the wrong place would show.
    n_files = 150
    paths = []
    for i in range(n_files):
        image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        image[0, 0] = (i % 256, i // 256, 7)
        paths.append(_write(tmp_path / f"{i:03d}.png", image))
    serial = read_images(paths, image_size=None, n_jobs=1)
    parallel = read_images(paths, image_size=None, n_jobs=2)
    np.testing.assert_array_equal(parallel, serial)
    np.testing.assert_array_equal(serial[:, 0, 0, 0], np.arange(n_files) % 256)
    np.testing.assert_array_equal(
        ImageReader(image_size=6, n_jobs=2).transform(paths),
        ImageReader(image_size=6, n_jobs=1).transform(paths),
    )


def test_arrays_are_passed_through(rgb_images):
    out = ImageReader().fit_transform(rgb_images)
    assert out is rgb_images
    gray = rgb_images[..., 0].astype(np.float32) / 255
    assert read_images(gray) is gray


def test_arrays_are_resized_when_image_size_is_set(rng):
    X = [rng.integers(0, 256, (h, 16, 3), dtype=np.uint8) for h in (10, 20)]
    np.testing.assert_array_equal(
        read_images(X, image_size=8), resize_images(X, size=8)
    )
    with pytest.raises(ValueError, match="different sizes; set image_size"):
        read_images(X)


def test_raise_on_unreadable_file(png_files, bad_file, tmp_path):
    paths, _ = png_files
    with pytest.raises(ImageReadError, match="broken.jpg"):
        read_images(paths[:2] + [bad_file] + paths[2:])
    missing = str(tmp_path / "missing.png")
    with pytest.raises(ImageReadError, match="missing.png.*no such file"):
        ImageReader(n_jobs=2).transform(paths + [missing])


def test_skip_drops_unreadable_files_with_a_warning(png_files, bad_file, tmp_path):
    paths, images = png_files
    missing = str(tmp_path / "missing.png")
    X = [bad_file, paths[0], missing, bad_file, paths[1], paths[2], missing]
    for n_jobs in (1, 2):
        for image_size in (None, 20):
            with pytest.warns(UserWarning, match=r"Skipped 4 of 7.*broken\.jpg"):
                out, mask = read_images(
                    X,
                    image_size=image_size,
                    n_jobs=n_jobs,
                    on_error="skip",
                    return_mask=True,
                )
            np.testing.assert_array_equal(mask, [0, 1, 0, 0, 1, 1, 0])
            expected = resize_images(images[:3], size=image_size or (20, 30))
            np.testing.assert_array_equal(out, expected)
    with pytest.warns(UserWarning, match="Skipped 4 of 7.*missing.png"):
        out = read_images((path for path in X), on_error="skip")
    assert len(out) == 3


def test_skip_without_failures_does_not_warn(png_files):
    paths, images = png_files
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, mask = read_images(paths, on_error="skip", return_mask=True)
    np.testing.assert_array_equal(out, images)
    assert mask.all()


def test_skip_when_nothing_can_be_read(bad_file):
    with pytest.raises(ValueError, match="None of the 2 image file"):
        read_images([bad_file, bad_file], on_error="skip")


def test_transformer_never_drops_samples(png_files, bad_file, tmp_path):
    paths, _ = png_files
    missing = str(tmp_path / "missing.png")
    reader = ImageReader(on_error="skip").fit(paths + [bad_file, missing])
    with pytest.raises(ValueError, match=r"2 of 8 .*broken\.jpg.*missing\.png.*mask"):
        reader.transform(paths + [bad_file, missing])


def test_fit_reads_no_file_and_transform_needs_no_fit(png_files, tmp_path):
    paths, images = png_files
    missing = [str(tmp_path / "not_yet_there.png")]
    reader = ImageReader()
    assert reader.fit(missing) is reader
    assert reader.__sklearn_tags__().requires_fit is False
    assert reader.__sklearn_tags__().input_tags.string is True
    np.testing.assert_array_equal(ImageReader().transform(paths), images)


def test_no_size_is_chosen_from_the_data(png_files):
    # The defaults that depend on the size of a training set are decided by
    # make_leukemia_pipeline (training_recipe), never by the reader's fit.
    paths, _ = png_files
    reader = ImageReader(image_size=12)
    assert reader.__sklearn_tags__().requires_fit is False
    np.testing.assert_array_equal(
        reader.transform(paths), reader.fit(paths[:1]).transform(paths)
    )
    with pytest.raises(ValueError, match="'image_size' parameter.*Got 'auto'"):
        ImageReader(image_size="auto").fit(paths)
    with pytest.raises(ValueError, match="'image_size' parameter.*Got 'auto'"):
        read_images(paths, image_size="auto")


@pytest.mark.parametrize(
    "params, error, match",
    [
        ({"image_size": 0}, ValueError, "'image_size' parameter.*Got 0"),
        ({"image_size": "Auto"}, TypeError, "'image_size' parameter.*Got 'Auto'"),
        ({"image_size": (3, 4, 5)}, TypeError, "image_size must be an int or a"),
        ({"image_size": (3, 0)}, ValueError, "image_size must be positive"),
        ({"n_jobs": 0}, ValueError, "'n_jobs' parameter.*Got 0"),
        ({"n_jobs": 1.5}, ValueError, "'n_jobs' parameter.*Got 1.5"),
        ({"on_error": "ignore"}, ValueError, r"'on_error' parameter.*Got 'ignore'"),
    ],
)
def test_bad_parameters_raise_in_fit_not_init(png_files, params, error, match):
    paths, _ = png_files
    reader = ImageReader(**params)
    with pytest.raises(error, match=match):
        reader.fit(paths)
    with pytest.raises(error, match=match):
        reader.transform(paths)
    with pytest.raises(error, match=match):
        read_images(paths, **params)


def test_bad_input(png_files, rgb_images):
    paths, _ = png_files
    with pytest.raises(TypeError, match="single path"):
        read_images(paths[0])
    with pytest.raises(TypeError, match="mixes file paths"):
        read_images([paths[0], rgb_images[0]])
    with pytest.raises(ValueError, match="1-D array"):
        read_images(np.array(paths[:4]).reshape(2, 2))
    with pytest.raises(ValueError, match="at least 1"):
        ImageReader().fit([])
    with pytest.raises(ValueError, match="at least 1"):
        read_images(rgb_images[:0])
    nan = rgb_images.astype(float)
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ImageReader().fit(nan)
    with pytest.raises(ValueError, match="dimension"):
        ImageReader().fit_transform(rgb_images.reshape(12, -1))
    with pytest.raises(TypeError, match="return_mask"):
        read_images(paths, return_mask="yes")


@pytest.mark.realdata
def test_reads_real_smear_images(shared_data_dir):
    paths = sorted(shared_data_dir.rglob("*.jpg"))[::400][:6]
    if not paths:
        pytest.skip(f"no JPEG files under {shared_data_dir}")
    out = read_images(paths, image_size=224, n_jobs=2)
    assert out.shape == (len(paths), 224, 224, 3) and out.dtype == np.uint8
    for i, path in enumerate(paths):
        with Image.open(path) as im:
            expected = np.asarray(
                im.convert("RGB").resize((224, 224), Image.Resampling.BILINEAR)
            )
        np.testing.assert_array_equal(out[i], expected)


@pytest.mark.parametrize(
    ("suffix", "mode"),
    [(".png", "RGB"), (".png", "L"), (".png", "RGBA"), (".png", "P"),
     (".jpg", "RGB"), (".jpg", "L")],
)
def test_resizing_while_reading_equals_read_then_resize(tmp_path, rng, suffix, mode):
    # 8-bit RGB files are resized inside Pillow, the others as arrays; both
    # must give exactly what read_image followed by resize_images gives.
    from PIL import Image

    from sklearn_leukemia.preprocessing import resize_images

    paths = []
    for i, shape in enumerate([(37, 50), (64, 64), (20, 12)]):
        pixels = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
        image = Image.fromarray(pixels).convert(mode)
        path = tmp_path / f"{i}{suffix}"
        image.save(path)
        paths.append(str(path))
    # min_size: the reader lets JPEG decoding shrink to the larger side asked.
    expected = np.stack([
        resize_images(read_image(p, min_size=32)[np.newaxis], size=(24, 32))[0]
        for p in paths
    ])
    np.testing.assert_array_equal(read_images(paths, image_size=(24, 32)), expected)
