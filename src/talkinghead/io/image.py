"""Reading and writing still images as uint8 RGB numpy arrays (H, W, 3).

Reading goes through Pillow (a dependency of matplotlib, hence always installed), which gives the
image size from the header before any pixel is decoded, applies EXIF orientation and knows the
many pixel modes (palette, greyscale, 16-bit, CMYK, alpha) that a portrait may come in.
"""
from __future__ import annotations

import os
import re
import struct
import warnings
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from talkinghead.errors import InputError, OutputError
from talkinghead.io.atomic import atomic_output, check_input_file

__all__ = ["MAX_IMAGE_SIDE", "MIN_IMAGE_SIDE", "read_image", "write_image", "is_image_path"]

MAX_IMAGE_SIDE = 8192
"""Largest accepted width or height in pixels; larger images are refused before decoding."""
MIN_IMAGE_SIDE = 32
"""Smallest accepted width or height in pixels."""

# Errors Pillow (and the codecs under it) raise on truncated or corrupt pixel data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, zlib.error)

# Output extension -> (Pillow format, save options).
_WRITE_FORMATS: dict[str, tuple[str, dict]] = {
    ".png": ("PNG", {"compress_level": 3}),
    ".jpg": ("JPEG", {"quality": 95}),
    ".jpeg": ("JPEG", {"quality": 95}),
    ".bmp": ("BMP", {}),
}


@contextmanager
def _quiet_pillow() -> Iterator[None]:
    """Silence Pillow's DecompressionBombWarning (we apply our own, stricter size cap) and its
    corrupt-EXIF warnings (such a file is read as stored, without an orientation)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", message=r".*(?i:exif)", category=UserWarning)
        yield


def _open(path: Path) -> Image.Image:
    """Open ``path`` lazily (header only) or raise InputError."""
    try:
        return Image.open(path)
    except Image.DecompressionBombError as e:
        # Pillow refuses > 2 * MAX_IMAGE_PIXELS before we see the size; report its pixel count.
        m = re.search(r"\((\d+) pixels\)", str(e))
        n = f"{int(m.group(1))} pixels; " if m else ""
        reason = f"image too large ({n}at most {MAX_IMAGE_SIDE} px per side)"
        raise InputError(path, reason) from None
    except UnidentifiedImageError:
        raise InputError(path, "not an image or unsupported format") from None
    except _DECODE_ERRORS:
        raise InputError(path, "truncated or corrupt image") from None


def _check_size(path: Path, size: tuple[int, int]) -> None:
    w, h = size
    if w > MAX_IMAGE_SIDE or h > MAX_IMAGE_SIDE:
        raise InputError(path, f"image too large ({w}x{h}; at most {MAX_IMAGE_SIDE} px per side)")
    if w < MIN_IMAGE_SIDE or h < MIN_IMAGE_SIDE:
        raise InputError(
            path, f"image too small ({w}x{h}; need at least {MIN_IMAGE_SIDE}x{MIN_IMAGE_SIDE})"
        )


def _exif_upright(im: Image.Image) -> Image.Image:
    """Apply the EXIF orientation tag; a broken EXIF block is ignored rather than fatal."""
    try:
        return ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - malformed EXIF must not make a good image unreadable
        return im


def _high_depth_to_uint8(a: np.ndarray, mode: str) -> np.ndarray:
    """Scale a 16/32-bit integer or float single-channel array to uint8."""
    a = a.astype(np.float32)
    if mode == "F":
        scale = 255.0 if a.size and float(np.nanmax(a)) <= 1.0 else 1.0
    elif mode.startswith("I;16") or (a.size and float(a.max()) > 255.0):
        scale = 255.0 / 65535.0  # 16-bit range -> 8-bit, rounding below
    else:
        scale = 1.0
    return np.clip(np.rint(np.nan_to_num(a) * scale), 0, 255).astype(np.uint8)


def _to_rgb_array(im: Image.Image) -> np.ndarray:
    """Convert any Pillow mode to a contiguous uint8 RGB array; alpha is composited over white."""
    mode = im.mode
    has_alpha = mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        mode == "P" and "transparency" in im.info
    )
    if has_alpha:
        rgba = im.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB")).copy()
    if mode.startswith("I") or mode == "F":
        grey = _high_depth_to_uint8(np.asarray(im), mode)
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=2))
    if mode != "RGB":  # L, 1, P, CMYK, YCbCr, LAB, HSV
        im = im.convert("RGB")
    return np.asarray(im).copy()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as a uint8 RGB array (H, W, 3), upright per its EXIF orientation.

    Handles alpha (composited over white), greyscale, palette, 16-bit (scaled to 8-bit), CMYK,
    and animated images (first frame). The size is checked from the header before decoding.

    Raises:
        InputError: "file not found", "empty file (0 bytes)", "not an image or unsupported
            format", "truncated or corrupt image", "image too small (WxH; ...)" or
            "image too large (WxH; ...)".
    """
    p = check_input_file(path)
    with _quiet_pillow():
        im = _open(p)
        with im:
            _check_size(p, im.size)
            try:
                im.seek(0)  # first frame of an animated GIF / multi-page TIFF
                im.load()
            except _DECODE_ERRORS:
                raise InputError(p, "truncated or corrupt image") from None
            try:
                return _to_rgb_array(_exif_upright(im))
            except _DECODE_ERRORS:
                raise InputError(p, "truncated or corrupt image") from None


def is_image_path(path: str | os.PathLike) -> bool:
    """True if ``path`` is a non-empty file whose content Pillow recognises as an image.

    The content is sniffed (header only), so the extension does not matter: a text file named
    ``.jpg`` is not an image, a PNG named ``.dat`` is.
    """
    try:
        p = check_input_file(path)
    except InputError:
        return False
    with _quiet_pillow():
        try:
            with Image.open(p):
                return True
        except Image.DecompressionBombError:
            return True  # an image, just a huge one
        except Exception:  # noqa: BLE001 - anything Pillow cannot open is "not an image"
            return False


def _as_uint8_image(rgb: np.ndarray) -> np.ndarray:
    a = np.asarray(rgb)
    if a.dtype != np.uint8:
        raise ValueError(f"write_image expects a uint8 array, got {a.dtype}")
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (1, 3))):
        raise ValueError(f"write_image expects (H, W, 3) or (H, W), got shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    return np.ascontiguousarray(a)


def write_image(
    path: str | os.PathLike, rgb: np.ndarray, finalize: Callable[[Path], None] | None = None
) -> None:
    """Write a uint8 RGB (H, W, 3) or greyscale (H, W) array atomically.

    The format follows the extension: .png, .jpg/.jpeg (quality 95) or .bmp. ``finalize`` is
    called with the complete temporary file before it is moved into place (e.g. to sign it);
    if it raises, nothing is written.

    Raises:
        OutputError: unsupported extension, missing directory, no permission, disk full.
        ValueError: ``rgb`` is not a uint8 image array.
    """
    p = Path(os.fspath(path))
    fmt = _WRITE_FORMATS.get(p.suffix.lower())
    if fmt is None:
        raise OutputError(p, f"unsupported image extension '{p.suffix}' (use .png or .jpg)")
    img = Image.fromarray(_as_uint8_image(rgb))
    with atomic_output(p) as tmp:
        img.save(tmp, format=fmt[0], **fmt[1])
        if finalize is not None:
            try:
                finalize(tmp)
            except OutputError as e:  # name the user's path, not our hidden temp file
                if e.path is not None and Path(e.path) == Path(tmp):
                    raise OutputError(p, e.reason) from None
                raise
