"""Safe image loading: every image dermkit trains on, evaluates or serves is decoded here.

Bad input never produces a traceback: each problem (missing file, empty file, text saved as ``.jpg``, truncated
download, decompression bomb, unusable array) raises :class:`~dermkit.errors.ImageLoadError`, an ``OSError`` whose
message is one line, ``"<file>: <reason>"``. Callers that loop over a dataset can catch it, log the line and go on.

Decoding rules: EXIF orientation is applied, the first frame of a multi-frame file is used, alpha is composited onto
black, 16-bit grey and arrays are scaled to 8 bits by ``round(v / 257)`` and everything ends as a writeable,
C-contiguous RGB ``uint8`` array of shape ``(H, W, 3)``. ICC colour profiles are not applied. 16-bit RGB(A) PNG and
TIFF files are reduced to 8 bits by Pillow itself (it keeps the high byte, ``v >> 8``), which differs from
``round(v / 257)`` by at most one level and not at all for 8-bit data stored as 16 bits.
"""

from __future__ import annotations

import io
import os
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from dermkit.errors import ImageLoadError

__all__ = ["DEFAULT_MAX_PIXELS", "IMAGE_EXTENSIONS", "ImageInfo", "is_image_file", "load_image", "probe_image"]

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
DEFAULT_MAX_PIXELS: int = 100_000_000  # decompression-bomb guard; dermoscopy images reach ~12 MP

# Pillow plugins allowed to identify data. Keeping obscure formats (TGA, PCX, ICO...) out means random bytes are not
# "decoded" as garbage and less parser code faces untrusted uploads. MPO camera JPEGs open through the JPEG plugin.
_PIL_FORMATS = ("JPEG", "PNG", "BMP", "TIFF", "WEBP", "GIF")
_ORIENTATION_TAG = 0x0112
_SIXTEEN_BIT_MODES = frozenset({"I;16", "I;16B", "I;16L", "I;16N", "I"})
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "La", "RGBa"})


def is_image_file(path: str | Path) -> bool:
    """Tell whether ``path`` names an image by its extension (case-insensitive).

    Hidden files (name starting with ``.``, such as macOS ``._photo.jpg`` resource forks) are never images.
    """
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(IMAGE_EXTENSIONS)


@dataclass(frozen=True)
class ImageInfo:
    """Header facts about an image file. Sizes are as stored, before EXIF orientation is applied."""

    width: int
    height: int
    mode: str
    format: str | None


def probe_image(path: str | Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> ImageInfo:
    """Check an image file cheaply by reading its header only (no pixel decoding).

    This catches missing, empty, non-image and too-large files, but not truncated or corrupt pixel data: that is
    only found by a full decode with :func:`load_image`.

    Args:
        path: the image file.
        max_pixels: the largest ``width * height`` accepted.

    Returns:
        The stored width, height, Pillow mode and format (``"JPEG"``, ``"PNG"``...).

    Raises:
        ImageLoadError: the file is missing, a directory, empty, not an image or too large.
    """
    label = str(path)
    with _open_file(Path(path), label) as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # _check_pixels enforces our own limit
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")  # corrupt metadata: skipped, as said
        with _open_image(fh, label, max_pixels) as img:
            return ImageInfo(width=img.width, height=img.height, mode=img.mode, format=img.format)


def load_image(
    source: str | Path | bytes | Image.Image | np.ndarray,
    *,
    min_size: int | None = None,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    name: str | None = None,
) -> np.ndarray:
    """Decode an image to an RGB ``uint8`` array of shape ``(H, W, 3)``, writeable and C-contiguous.

    Args:
        source: a file path, encoded file bytes, a Pillow image or an array. Arrays may be ``HxW`` (grey),
            ``HxWx1``, ``HxWx3`` (RGB) or ``HxWx4`` (RGBA) of dtype ``uint8``, ``uint16`` (scaled by ``/ 257``),
            ``bool`` or float in ``[0, 1]`` (scaled by 255, clipped and rounded).
        min_size: the smallest side the caller needs. For JPEG files and bytes, libjpeg then decodes at 1/2, 1/4 or
            1/8 scale when both sides stay ``>= min_size``, which is several times faster. Ignored otherwise.
        max_pixels: the largest ``width * height`` accepted, checked from the header before decoding. Pillow's own
            hard limit (``2 * PIL.Image.MAX_IMAGE_PIXELS``, about 179 MP) still applies above it.
        name: what error messages call the input (default: the path, ``<bytes>``, ``<image>`` or ``<array>``).

    Returns:
        The decoded image, a new array the caller may modify.

    Raises:
        ImageLoadError: the input cannot be decoded; ``str(error)`` is ``"<name>: <reason>"`` on one line.
    """
    if min_size is not None and min_size < 1:
        raise ValueError(f"min_size must be a positive number of pixels, not {min_size}")
    label = name or _default_label(source)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        # Pillow warns about corrupt TIFF/EXIF metadata it skips: the image still decodes, or fails in one line
        warnings.filterwarnings("ignore", category=UserWarning, module="PIL")
        if isinstance(source, np.ndarray):
            rgb = _array_to_rgb(source, label, max_pixels)
        elif isinstance(source, Image.Image):
            _check_pixels(source.size, label, max_pixels)
            _load_pixels(source, label)
            rgb = _pil_to_rgb(source, label)
        elif isinstance(source, bytes | bytearray | memoryview):
            data = bytes(source)
            if not data:
                raise ImageLoadError(label, "empty data (0 bytes)")
            rgb = _decode(io.BytesIO(data), label, min_size, max_pixels)
        else:
            with _open_file(Path(source), label) as fh:
                rgb = _decode(fh, label, min_size, max_pixels)
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageLoadError(label, f"image has no pixels ({rgb.shape[1]} x {rgb.shape[0]})")
    return rgb  # every conversion path builds a new, writeable, C-contiguous array


def _default_label(source: object) -> str:
    for kind, label in ((np.ndarray, "<array>"), (Image.Image, "<image>"), (bytes | bytearray | memoryview, "<bytes>")):
        if isinstance(source, kind):
            return label
    if isinstance(source, str | os.PathLike):
        return str(source)
    raise TypeError(f"load_image cannot read a {type(source).__name__}; pass a path, bytes, image or array")


def _open_file(path: Path, label: str) -> IO[bytes]:
    """Open ``path`` for reading, turning every file-system problem into a one-line ImageLoadError."""
    if path.is_dir():
        raise ImageLoadError(label, "is a directory")
    try:
        size = path.stat().st_size
        fh = path.open("rb")
    except FileNotFoundError as exc:
        raise ImageLoadError(label, "file not found") from exc
    except (OSError, ValueError) as exc:  # permission denied, I/O error; ValueError: a NUL byte in the path
        raise ImageLoadError(label, f"cannot read file ({getattr(exc, 'strerror', None) or _short(exc)})") from exc
    if size == 0:
        fh.close()
        raise ImageLoadError(label, "empty file (0 bytes)")
    return fh


def _open_image(fh: IO[bytes], label: str, max_pixels: int) -> Image.Image:
    """Identify the format and read the header of an open file, enforcing the pixel limit."""
    try:
        img = Image.open(fh, formats=_PIL_FORMATS)
    except UnidentifiedImageError as exc:
        fh.seek(0)
        raise ImageLoadError(label, f"not an image (unrecognised format{_sniff(fh.read(64))})") from exc
    except Image.DecompressionBombError as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        count = f"{found.group(1)} pixels" if found else "the pixel count"
        pillow_limit = 2 * (Image.MAX_IMAGE_PIXELS or 0)
        limit = f"the limit of {max_pixels}" if max_pixels <= pillow_limit else f"Pillow's limit of {pillow_limit}"
        raise ImageLoadError(label, f"image too large: {count} exceeds {limit} (decompression-bomb guard)") from exc
    except MemoryError:
        raise
    except Exception as exc:  # Pillow plugins raise many types on malformed headers
        raise ImageLoadError(label, f"truncated or corrupt image data ({_short(exc)})") from exc
    _check_pixels(img.size, label, max_pixels)  # the caller's ``with`` on ``fh`` releases the file if this raises
    return img


def _decode(fh: IO[bytes], label: str, min_size: int | None, max_pixels: int) -> np.ndarray:
    """Decode the first frame of an open image file to RGB."""
    with _open_image(fh, label, max_pixels) as img:
        if min_size is not None and img.format in ("JPEG", "MPO"):
            img.draft("RGB", (min_size, min_size))  # libjpeg DCT scaling; both sides stay >= min_size
        _load_pixels(img, label)
        return _pil_to_rgb(img, label)


def _load_pixels(img: Image.Image, label: str) -> None:
    """Run Pillow's full decode; truncated or corrupt data becomes an ImageLoadError."""
    try:
        img.load()
    except MemoryError:
        raise
    except Exception as exc:  # OSError, SyntaxError, ValueError, EOFError, zlib.error, struct.error...
        raise ImageLoadError(label, f"truncated or corrupt image data ({_short(exc)})") from exc


def _pil_to_rgb(img: Image.Image, label: str) -> np.ndarray:
    """Convert a loaded Pillow image of any mode to an RGB uint8 array, upright per its EXIF orientation."""
    img = _upright(img)
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        return _grey_to_rgb(_u16_to_u8(np.clip(np.asarray(img).astype(np.int64), 0, 65535)))
    if mode == "F":
        values = np.asarray(img, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ImageLoadError(label, "float image contains NaN or infinite values")
        scale = 255.0 if values.max() <= 1.0 else 1.0  # 0..1 floats, else 0..255
        return _grey_to_rgb(np.rint(np.clip(values * scale, 0, 255)).astype(np.uint8))
    if mode == "RGB":
        return np.array(img, dtype=np.uint8)
    try:
        if mode in _ALPHA_MODES or "transparency" in img.info:  # palette/grey/RGB transparency becomes alpha
            return _composite_on_black(np.asarray(img.convert("RGBA")))
        return np.array(img.convert("RGB"), dtype=np.uint8)
    except (ValueError, OSError) as exc:
        raise ImageLoadError(label, f"unsupported image mode {mode} ({_short(exc)})") from exc


def _upright(img: Image.Image) -> Image.Image:
    """Apply the EXIF orientation. Malformed EXIF is ignored (the image is kept as stored, like most viewers)."""
    try:
        if img.getexif().get(_ORIENTATION_TAG, 1) in range(2, 9):
            return ImageOps.exif_transpose(img)
    except MemoryError:
        raise
    except Exception:  # a broken EXIF block must not make a readable image unreadable
        pass
    return img


def _array_to_rgb(array: np.ndarray, label: str, max_pixels: int) -> np.ndarray:
    """Validate and convert a caller's array (grey, RGB or RGBA; uint8, uint16, bool or float) to RGB uint8."""
    arr = np.asarray(array)
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] not in (1, 3, 4)):
        raise ImageLoadError(label, f"unsupported array shape {arr.shape} (expected HxW, HxWx1, HxWx3 or HxWx4)")
    if arr.size == 0:
        raise ImageLoadError(label, f"empty array of shape {arr.shape}")
    _check_pixels((arr.shape[1], arr.shape[0]), label, max_pixels)
    kind, itemsize = arr.dtype.kind, arr.dtype.itemsize
    if kind == "u" and itemsize == 1:
        pixels = arr
    elif kind == "u" and itemsize == 2:
        pixels = _u16_to_u8(arr)
    elif kind == "b":
        pixels = arr.astype(np.uint8) * np.uint8(255)
    elif kind == "f":
        if not np.isfinite(arr).all():
            raise ImageLoadError(label, "array contains NaN or infinite values")
        pixels = np.rint(np.clip(arr.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)
    else:
        raise ImageLoadError(label, f"unsupported array dtype {arr.dtype} (expected uint8, uint16, bool or float)")
    if pixels.ndim == 2 or pixels.shape[2] == 1:
        return _grey_to_rgb(pixels.reshape(pixels.shape[:2]))
    if pixels.shape[2] == 4:
        return _composite_on_black(pixels)
    return np.array(pixels, dtype=np.uint8, order="C")


def _check_pixels(size: tuple[int, int], label: str, max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        reason = f"image too large: {width} x {height} = {width * height} pixels exceeds the limit of {max_pixels}"
        raise ImageLoadError(label, reason + " (decompression-bomb guard)")


def _u16_to_u8(values: np.ndarray) -> np.ndarray:
    """Scale 0..65535 to 0..255 as ``round(v / 257)`` (no ties are possible, so integer rounding is exact)."""
    return ((values.astype(np.uint32) + 128) // 257).astype(np.uint8)


def _grey_to_rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(grey[:, :, None], 3, axis=2)


def _composite_on_black(rgba: np.ndarray) -> np.ndarray:
    """Blend RGBA uint8 onto a black background, rounding to nearest."""
    rgb = rgba[:, :, :3].astype(np.uint16)
    alpha = rgba[:, :, 3:4].astype(np.uint16)
    return ((rgb * alpha + 127) // 255).astype(np.uint8)


def _short(exc: BaseException) -> str:
    """A one-line, bounded description of an exception for use inside a reason."""
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def _sniff(head: bytes) -> str:
    """Guess what a non-image file holds, from its first bytes, to make the error actionable."""
    if head[4:8] == b"ftyp":
        return "; looks like a HEIC/HEIF or AVIF photo, which is not supported: convert it to JPEG or PNG"
    if head.lstrip().startswith(b"<"):
        return "; content looks like HTML or XML"
    if all(32 <= byte < 127 or byte in b"\t\n\r" for byte in head):
        return "; content looks like text"
    return ""
