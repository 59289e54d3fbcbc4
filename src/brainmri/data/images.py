"""Decode one image file, whatever its colour mode, into a square uint8 array; describe it on the way.

cv2 decodes the common cases (8-bit grey, RGB, RGBA and 16-bit PNG/JPEG) quickly and releases the
GIL, so a thread pool scales; PIL handles what cv2 gets wrong or cannot read (CMYK, palette, 1-bit,
32-bit integer). One decode yields both the resized pixels and what the scan report needs: mode,
size, a content hash and a perceptual hash.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".gif", ".webp"})
COLOR_CHANNELS = {"grayscale": 1, "rgb": 3}
_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"II*\x00", b"MM\x00*", b"RIFF")
_CV2_MODES = frozenset({"L", "RGB", "RGBA", "I;16", "I;16B", "I;16L", "LA"})


class BadImageError(ValueError):
    """A file that cannot be used as a scan; the message is the reason shown in reports."""


@dataclass(frozen=True)
class ImageInfo:
    """What the scan report records about one readable image."""

    width: int
    height: int
    mode: str  # PIL's name: L, RGB, RGBA, P, CMYK, I;16, ...
    format: str  # JPEG, PNG, ...
    sha1: str  # of the file's bytes: exact duplicates
    dhash: str  # 256-bit difference hash of the grey image, hex: near duplicates


def check_color(color: str) -> int:
    """Number of channels for ``color``; a clear error for anything else."""
    try:
        return COLOR_CHANNELS[color]
    except KeyError:
        raise ValueError(f"color must be one of {sorted(COLOR_CHANNELS)}, got {color!r}") from None


def _check_complete(data: bytes, fmt: str) -> None:
    """cv2 decodes a truncated JPEG with a grey band and only a warning, so look for the end marker.

    A file may carry metadata after its end marker; when the marker is not at the end, a full PIL
    decode (which does fail on truncation) decides.
    """
    marker = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}.get(fmt)
    if marker is None or marker in data[-64:]:
        return
    try:
        Image.open(io.BytesIO(data)).load()
    except Exception as error:
        raise BadImageError(f"truncated {fmt} ({error})") from None


def _scale_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """Map deeper-than-8-bit intensities to 0..255 by the image's own maximum.

    MRI intensities have no absolute scale, and 16-bit scans often use only 12 bits: dividing by
    257 would leave them nearly black, and clipping would saturate them.
    """
    if pixels.dtype == np.uint8:
        return pixels
    pixels = pixels.astype(np.float64)
    pixels -= min(float(pixels.min()), 0.0)
    top = float(pixels.max())
    if top <= 0:
        return np.zeros(pixels.shape, np.uint8)
    return np.rint(pixels * (255.0 / top)).astype(np.uint8)


def _decode_cv2(data: bytes) -> np.ndarray:
    """Grey (H, W) or RGB (H, W, 3) uint8 from cv2; alpha dropped, 16-bit scaled."""
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if pixels is None:
        raise BadImageError("corrupt image (decoder could not read it)")
    pixels = _scale_to_uint8(pixels)
    if pixels.ndim == 3:
        channels = pixels.shape[2]
        if channels == 1:
            return pixels[:, :, 0]
        if channels == 2:  # grey + alpha
            return pixels[:, :, 0]
        code = cv2.COLOR_BGRA2RGB if channels == 4 else cv2.COLOR_BGR2RGB
        return cv2.cvtColor(pixels, code)
    return pixels


def _decode_pil(image: Image.Image) -> np.ndarray:
    """Modes cv2 mishandles: CMYK, palette, 1-bit, 32-bit integer and float."""
    if image.mode in ("I", "F", "I;16", "I;16B", "I;16L"):
        return _scale_to_uint8(np.asarray(image))
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    target = "L" if image.mode in ("1", "L", "LA") else "RGB"
    return np.asarray(image.convert(target))


def _to_color(pixels: np.ndarray, color: str) -> np.ndarray:
    if color == "grayscale":
        return pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    return np.repeat(pixels[:, :, None], 3, axis=2) if pixels.ndim == 2 else pixels


def pad_to_square(pixels: np.ndarray) -> np.ndarray:
    """Centre the image on a black square so resizing keeps the anatomy's proportions."""
    height, width = pixels.shape[:2]
    side = max(height, width)
    if height == width:
        return pixels
    top, left = (side - height) // 2, (side - width) // 2
    return cv2.copyMakeBorder(pixels, top, side - height - top, left, side - width - left,
                              cv2.BORDER_CONSTANT, value=0)


def resize_square(pixels: np.ndarray, size: int) -> np.ndarray:
    """Pad to a square, then resize to ``size`` x ``size`` (area averaging when shrinking)."""
    square = pad_to_square(pixels)
    interpolation = cv2.INTER_AREA if square.shape[0] >= size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interpolation)


HASH_SIDE = 16  # difference hash on a 17 x 16 thumbnail: 256 bits
_HASH_BASE = 64  # JPEGs are decoded at a reduced scale no smaller than this for hashing
_REDUCED_GREY = {1: cv2.IMREAD_GRAYSCALE, 2: cv2.IMREAD_REDUCED_GRAYSCALE_2,
                 4: cv2.IMREAD_REDUCED_GRAYSCALE_4, 8: cv2.IMREAD_REDUCED_GRAYSCALE_8}
_REDUCED_COLOR = {1: cv2.IMREAD_COLOR, 2: cv2.IMREAD_REDUCED_COLOR_2,
                  4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def difference_hash(grey: np.ndarray) -> str:
    """256-bit dHash as hex: is each pixel of a 17x16 thumbnail brighter than its right neighbour.

    64 bits are too few for brain MRI (different patients' slices collide); at 256 bits, pairs
    within ~20 bits are the same picture re-encoded, rescaled or re-sharpened.
    """
    small = cv2.resize(pad_to_square(grey), (HASH_SIDE + 1, HASH_SIDE), interpolation=cv2.INTER_AREA)
    small = small.astype(np.int16)
    return np.packbits((small[:, 1:] > small[:, :-1]).ravel()).tobytes().hex()


def _reduction(width: int, height: int, side: int) -> int:
    """Largest JPEG DCT scaling factor that keeps the image's longer side at least ``side``."""
    return max(f for f in (1, 2, 4, 8) if max(width, height) / f >= side or f == 1)


def _decode_jpeg(data: bytes, factor: int, color: str) -> np.ndarray:
    """A JPEG decoded at 1/factor scale in the DCT domain: far cheaper than decode-then-shrink."""
    flags = (_REDUCED_GREY if color == "grayscale" else _REDUCED_COLOR)[factor] | cv2.IMREAD_IGNORE_ORIENTATION
    pixels = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if pixels is None:
        raise BadImageError("corrupt image (decoder could not read it)")
    return pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_BGR2RGB)


def _describe_and_resize(data: bytes, image: Image.Image, size: int | None, color: str,
                         describe: bool) -> tuple[np.ndarray | None, str]:
    """(pixels at ``size`` in ``color`` or None, dHash or "" without ``describe``), decoding as little
    as the format allows.

    The hash never depends on ``size``: a report is the same whichever size loaded the data first.
    """
    if image.format == "JPEG" and image.mode in ("L", "RGB"):
        hash_factor = _reduction(image.width, image.height, _HASH_BASE)
        digest = difference_hash(_decode_jpeg(data, hash_factor, "grayscale")) if describe else ""
        if size is None:
            return None, digest
        pixels = _decode_jpeg(data, _reduction(image.width, image.height, size), color)
        return resize_square(pixels, size), digest
    use_cv2 = image.mode in _CV2_MODES and image.format in ("JPEG", "PNG")
    pixels = _decode_cv2(data) if use_cv2 else _decode_pil(image)
    digest = difference_hash(_to_color(pixels, "grayscale")) if describe else ""
    return (None if size is None else resize_square(_to_color(pixels, color), size)), digest


def decode_bytes(data: bytes, size: int | None = None, color: str = "grayscale", *,
                 describe: bool = True) -> tuple[np.ndarray | None, ImageInfo]:
    """Decode ``data``; return (pixels (size, size, C) uint8, or None without a size; ImageInfo).

    ``describe=False`` skips the hashes (empty strings in the ImageInfo) when only pixels are needed.
    Raises :class:`BadImageError` with a short reason for empty, unreadable, truncated or
    unsupported content.
    """
    channels = check_color(color)
    if not data:
        raise BadImageError("empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except Exception:
        if data.startswith(_SIGNATURES):
            raise BadImageError("corrupt image (valid signature, unreadable header)") from None
        raise BadImageError("not an image (no known image header)") from None
    _check_complete(data, image.format)
    try:
        pixels, digest = _describe_and_resize(data, image, size, color, describe)
    except BadImageError:
        raise
    except Exception as error:  # PIL: truncated, broken chunks, unsupported codecs
        raise BadImageError(f"corrupt or unsupported image ({type(error).__name__}: {error})") from None
    info = ImageInfo(width=image.width, height=image.height, mode=image.mode, format=image.format or "?",
                     sha1=hashlib.sha1(data).hexdigest() if describe else "", dhash=digest)
    return (None if pixels is None else pixels.reshape(size, size, channels)), info


def decode_file(path, size: int | None = None, color: str = "grayscale", *,
                describe: bool = True) -> tuple[np.ndarray | None, ImageInfo]:
    """:func:`decode_bytes` on a file; errors carry the reason only (callers attach the path)."""
    with open(path, "rb") as handle:
        return decode_bytes(handle.read(), size, color, describe=describe)
