"""Read one image file as an RGB ``uint8`` array, whatever the file holds.

Pillow decodes almost every file a microscope or a dataset ships. TIFF files
go to tifffile first because Pillow reduces 16-bit colour TIFFs on its own
terms and cannot open float colour or planar 16-bit ones; Pillow remains the
fallback for TIFF flavours tifffile leaves raw (palette, CMYK, JPEG-in-TIFF).
"""

from __future__ import annotations

import os
import stat

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

__all__ = ["ImageReadError", "read_image"]

# Classic TIFF and BigTIFF, in both byte orders.
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")

# What a path that is neither a file nor a folder may be.
_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "FIFO (named pipe)"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)

# Pillow modes whose conversion to RGB Pillow does right on its own.
_PIL_TO_RGB = frozenset({"RGB", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"})

# Errors a damaged file can raise from inside Pillow's or tifffile's decoders.
_DECODE_ERRORS = (
    OSError,
    ValueError,
    SyntaxError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    RuntimeError,
    MemoryError,
)


class ImageReadError(ValueError, OSError):
    """An image file could not be read.

    Subclass of both :class:`ValueError` (the content is not a usable image)
    and :class:`OSError` (the file is missing or unreadable), so that either
    ``except`` clause catches it.

    Parameters
    ----------
    path : str or os.PathLike
        The file that could not be read.
    reason : str
        Why, in words.

    Attributes
    ----------
    path : str
        The file that could not be read.
    reason : str
        Why it could not be read.

    Examples
    --------
    >>> from sklearn_leukemia.io import ImageReadError
    >>> err = ImageReadError("smear.png", "the file is empty")
    >>> print(err)
    cannot read image file 'smear.png': the file is empty
    >>> err.path
    'smear.png'
    """

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        path = os.fspath(path)
        # A numpy string (an element of an array of file names) as plain str,
        # so that the message shows 'smear.png', not np.str_('smear.png').
        self.path = str(path) if isinstance(path, str) else path
        self.reason = reason
        super().__init__(f"cannot read image file {self.path!r}: {reason}")

    def __reduce__(self):
        # Errors raised in joblib workers are pickled back to the parent.
        return (type(self), (self.path, self.reason))


def read_image(path: str | os.PathLike, *, min_size: int | None = None) -> np.ndarray:
    """Read an image file as an RGB ``uint8`` array of shape ``(H, W, 3)``.

    The format is recognised from the file's content, not its extension.
    Every pixel layout is brought to 8-bit RGB:

    - grayscale and 1-bit images are repeated over the three channels;
    - palette images are expanded through their palette;
    - an alpha channel (LA, RGBA, palette transparency, TIFF extra samples
      declared as alpha) is composited onto a **white** background, the
      colour of an empty blood-smear field, and then dropped;
    - CMYK, YCbCr, LAB and HSV images are converted by Pillow;
    - unsigned integer pixels of more than 8 bits (16-bit PNG and TIFF) keep
      their high byte, ``value // 256`` for 16 bits: 65535 gives 255, 32768
      gives 128; the full range of the type is mapped, nothing is clipped,
      and the mapping does not depend on the other pixels of the image
      (unlike :func:`skimage.util.img_as_ubyte`, which leaves 16-bit images
      whose maximum is below 256 unscaled);
    - floating-point pixels (float TIFF) must lie in [0, 1], the
      scikit-image convention, and are scaled by 255 and rounded; values
      outside [0, 1], NaN or infinity raise :class:`ImageReadError` rather
      than being clipped or rescaled by a guess;
    - the EXIF orientation tag is applied (photos from phones and cameras);
    - of a multi-page TIFF, the first page is read.

    The file is opened read-only and never modified.

    Parameters
    ----------
    path : str or os.PathLike
        The image file: PNG, JPEG, TIFF, BMP or any other format Pillow
        reads.
    min_size : int, default=None
        If given, decoders able to decode at a reduced resolution (JPEG's
        DCT scaling, through Pillow's draft mode) may return an image up to
        8 times smaller whose shorter side is still at least ``min_size``
        pixels. Reading a 2592x1944 field to resize it to 224 pixels then
        decodes a quarter-size image, several times faster. Other formats
        are read at full resolution. If None, always full resolution.

    Returns
    -------
    ndarray of shape (height, width, 3) and dtype uint8
        The image, as a new, writeable, C-contiguous array.

    Raises
    ------
    ImageReadError
        If the file is missing, a directory, a FIFO, socket or device
        (refused before it is opened), unreadable, empty, not an image,
        truncated or corrupt, or holds pixels that cannot be brought to RGB
        (more than four channels, signed integers, floats outside [0, 1]).
        The message names the file and the reason.
    TypeError
        If ``path`` is not a str or os.PathLike.
    ValueError
        If ``min_size`` is not a positive integer.

    See Also
    --------
    sklearn_leukemia.preprocessing.ImageReader : The transformer that reads
        a batch of paths inside a pipeline.

    Examples
    --------
    >>> import tempfile, os
    >>> import numpy as np
    >>> from PIL import Image
    >>> from sklearn_leukemia.io import read_image
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "gray16.png")
    >>> Image.fromarray(np.full((4, 6), 65535, dtype=np.uint16)).save(path)
    >>> image = read_image(path)
    >>> image.shape, image.dtype, int(image.max())
    ((4, 6, 3), dtype('uint8'), 255)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(
            f"path must be a str or os.PathLike, got {type(path).__name__}."
        )
    path = os.fspath(path)
    if not isinstance(path, str):
        raise TypeError(f"path must be a text path, got {type(path).__name__}.")
    if min_size is not None:
        if isinstance(min_size, bool) or not isinstance(min_size, (int, np.integer)):
            raise ValueError(
                f"min_size must be a positive int or None, got {min_size!r}."
            )
        if min_size < 1:
            raise ValueError(f"min_size must be a positive int, got {min_size}.")
        min_size = int(min_size)

    image = _read_pixels(path, min_size=min_size)
    if not image.flags.writeable or not image.flags.c_contiguous:
        image = np.array(image, order="C")
    return image


def read_errors(files, *, n_jobs: int | None = None) -> list:
    """Decode every file once and return why each cannot be read.

    The check every reader of a file list shares (the patient loader, the
    commands' check before training): a file that :func:`read_image` cannot
    read (not an image, truncated, empty, gone) is found before any work is
    spent on the others.

    Parameters
    ----------
    files : sequence of str or os.PathLike
        The image files.
    n_jobs : int, default=None
        Threads decoding the files (None: 1); Pillow releases the GIL while
        decoding.

    Returns
    -------
    errors : list of ImageReadError or None
        One per file, in order: None for a file that can be read.
    """
    from joblib import Parallel, delayed

    def attempt(path):
        try:
            read_image(path)
        except ImageReadError as exc:
            return exc
        return None

    return Parallel(n_jobs=n_jobs, prefer="threads")(
        delayed(attempt)(path) for path in files
    )


def _read_pixels(
    path: str, *, min_size: int | None = None, size: tuple[int, int] | None = None
) -> np.ndarray:
    """Decode ``path`` to RGB ``uint8``, possibly as a read-only array.

    The body of :func:`read_image` without its argument checks and final
    copy, for readers that copy the pixels into a batch anyway. With ``size``
    (height, width), an 8-bit RGB image (almost every JPEG and PNG) is
    resized by Pillow before it becomes an array, with the bilinear filter of
    :class:`~sklearn_leukemia.preprocessing.ImageResizer`, so giving the
    same pixels with two copies fewer; other images come back at their own
    size for the caller to resize.
    """
    head = _check_file(path)
    if head[:4] in _TIFF_MAGIC:
        return _read_tiff(path)
    return _read_with_pillow(path, min_size=min_size, size=size)


def special_file_kind(mode: int) -> str | None:
    """Name what a ``st_mode`` that is neither a regular file nor a folder is."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    for test, kind in _SPECIAL_KINDS:
        if test(mode):
            return kind
    return "special file"


def _check_file(path: str) -> bytes:
    """Fail early, with a precise reason, on what is not a readable file.

    A FIFO, socket or device is refused before it is read: reading a FIFO
    blocks until something writes to it, a device may never end.
    """
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        raise ImageReadError(path, "no such file") from None
    except OSError as exc:
        raise ImageReadError(path, f"the file cannot be opened ({exc})") from exc
    if stat.S_ISDIR(mode):
        raise ImageReadError(path, "it is a directory, not a file")
    kind = special_file_kind(mode)
    if kind is not None:
        raise ImageReadError(path, f"it is a {kind}, not a regular file")
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as exc:
        raise ImageReadError(path, f"the file cannot be opened ({exc})") from exc
    if not head:
        raise ImageReadError(path, "the file is empty (0 bytes)")
    return head


def _read_with_pillow(
    path: str, *, min_size: int | None, size: tuple[int, int] | None = None
) -> np.ndarray:
    try:
        with Image.open(path) as im:
            if min_size is not None and min(im.size) > min_size:
                # Only JPEG implements draft; it keeps both sides >= min_size.
                im.draft(None, (min_size, min_size))
            im.load()
            ImageOps.exif_transpose(im, in_place=True)
            if size is not None and im.mode == "RGB" and im.size != size[::-1]:
                im = im.resize(size[::-1], Image.Resampling.BILINEAR)
            return _pillow_to_rgb(path, im)
    except ImageReadError:
        raise
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            path, "not an image in a format Pillow recognises"
        ) from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(path, f"refused by Pillow as too large ({exc})") from exc
    except _DECODE_ERRORS as exc:
        raise ImageReadError(
            path, f"the image data is corrupt or truncated ({exc})"
        ) from exc


def _pillow_to_rgb(path: str, im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode == "RGB":
        return np.asarray(im)
    if mode in _PIL_TO_RGB:
        return np.asarray(im.convert("RGB"))
    if mode == "P" or mode == "PA":
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        mode = im.mode
        if mode == "RGB":
            return np.asarray(im)
    if mode in ("1", "L"):
        return _gray_to_rgb(_to_ubyte(path, np.asarray(im)))
    if mode in ("LA", "La"):
        im = im.convert("LA")
        pixels = np.asarray(im)
        return _composite_on_white(
            _gray_to_rgb(pixels[..., 0]), pixels[..., 1], associated=False
        )
    if mode in ("RGBA", "RGBa"):
        im = im.convert("RGBA")
        pixels = np.asarray(im)
        return _composite_on_white(pixels[..., :3], pixels[..., 3], associated=False)
    if mode.startswith("I;16") and not mode.endswith("S"):
        return _gray_to_rgb(_to_ubyte(path, np.asarray(im).astype(np.uint16)))
    if mode == "I" and im.format == "PNG":
        # Older Pillow opens 16-bit grayscale PNGs as 32-bit "I"; PNG samples
        # are unsigned 16-bit whatever the container.
        return _gray_to_rgb(_to_ubyte(path, np.asarray(im).astype(np.uint16)))
    if mode == "F":
        return _gray_to_rgb(_to_ubyte(path, np.asarray(im)))
    raise ImageReadError(
        path,
        f"Pillow mode {mode!r} (signed or 32-bit integer pixels) cannot be "
        "brought to 8-bit RGB without guessing its range; save the image as "
        "8- or 16-bit unsigned, or as float in [0, 1]",
    )


def _read_tiff(path: str) -> np.ndarray:
    import tifffile

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            photometric = int(page.photometric)
            bits = int(page.bitspersample)
            usable = photometric in (
                tifffile.PHOTOMETRIC.MINISBLACK,
                tifffile.PHOTOMETRIC.RGB,
            )
            if usable and bits != 1:
                data = page.asarray()
                extrasamples = tuple(int(x) for x in page.extrasamples)
                axes = page.axes
                tiff_reason = None
            else:
                tiff_reason = f"photometric {page.photometric.name}"
    except _DECODE_ERRORS as exc:
        # tifffile lacks codecs (JPEG-in-TIFF without imagecodecs) that
        # Pillow has; its error is kept in case Pillow fails too.
        tiff_reason = f"tifffile: {exc}"
    if tiff_reason is not None:
        try:
            return _read_with_pillow(path, min_size=None)
        except ImageReadError as exc:
            raise ImageReadError(path, f"{exc.reason}; {tiff_reason}") from exc
    return _tiff_array_to_rgb(path, data, axes, photometric, extrasamples)


def _tiff_array_to_rgb(
    path: str,
    data: np.ndarray,
    axes: str,
    photometric: int,
    extrasamples: tuple[int, ...],
) -> np.ndarray:
    import tifffile

    if "S" in axes:
        data = np.moveaxis(data, axes.index("S"), -1)
        axes = axes.replace("S", "") + "S"
    # Leading singleton axes (a one-plane volume, say) carry no pixels.
    while axes[:1] not in ("Y", "") and data.shape[0] == 1:
        data, axes = data[0], axes[1:]
    if axes not in ("YX", "YXS"):
        raise ImageReadError(
            path,
            f"the first page has axes {axes!r} and shape {data.shape}; "
            "expected a 2-D image with optional samples (YX or YXS)",
        )
    if data.ndim == 2:
        data = data[..., np.newaxis]
    n_samples = data.shape[-1]
    n_colour = 3 if photometric == tifffile.PHOTOMETRIC.RGB else 1
    alpha_kinds = (tifffile.EXTRASAMPLE.ASSOCALPHA, tifffile.EXTRASAMPLE.UNASSALPHA)
    n_extra = n_samples - n_colour
    if n_extra < 0 or n_extra > 1 or (n_extra == 1 and not extrasamples):
        raise ImageReadError(
            path,
            f"{n_samples} sample(s) per pixel with photometric "
            f"{tifffile.PHOTOMETRIC(photometric).name}; expected gray or RGB, "
            "each with an optional alpha channel",
        )
    colour = _to_ubyte(path, data[..., :n_colour])
    if n_colour == 1:
        colour = _gray_to_rgb(colour[..., 0])
    if n_extra == 1 and extrasamples[0] in alpha_kinds:
        alpha = _to_ubyte(path, data[..., n_colour])
        associated = extrasamples[0] == tifffile.EXTRASAMPLE.ASSOCALPHA
        return _composite_on_white(colour, alpha, associated=associated)
    # An extra sample not declared as alpha has no meaning for display.
    return colour


def _to_ubyte(path: str, pixels: np.ndarray) -> np.ndarray:
    """Scale pixels to uint8 from the full range of their type, never a guess."""
    kind = pixels.dtype.kind
    if kind == "b":
        return np.where(pixels, np.uint8(255), np.uint8(0))
    if kind == "u":
        shift = 8 * (pixels.dtype.itemsize - 1)
        return (pixels >> shift).astype(np.uint8) if shift else pixels
    if kind == "f":
        if not np.isfinite(pixels).all():
            raise ImageReadError(path, "float pixels contain NaN or infinity")
        low, high = float(pixels.min()), float(pixels.max())
        if low < 0.0 or high > 1.0:
            raise ImageReadError(
                path,
                f"float pixels range over [{low:g}, {high:g}]; expected "
                "[0, 1] (scikit-image's convention). Rescale the file, or "
                "save it as 8- or 16-bit unsigned integers",
            )
        return np.rint(pixels * 255.0).astype(np.uint8)
    raise ImageReadError(
        path,
        f"pixels of dtype {pixels.dtype} cannot be brought to 8-bit without "
        "guessing their range; expected unsigned integers or float in [0, 1]",
    )


def _gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.repeat(gray[..., np.newaxis], 3, axis=-1)


def _composite_on_white(
    rgb: np.ndarray, alpha: np.ndarray, *, associated: bool
) -> np.ndarray:
    colour = rgb.astype(np.float32)
    weight = alpha.astype(np.float32)[..., np.newaxis] / 255.0
    if associated:
        # Premultiplied colour already carries its alpha weighting.
        out = colour + 255.0 * (1.0 - weight)
    else:
        out = colour * weight + 255.0 * (1.0 - weight)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)
