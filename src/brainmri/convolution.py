"""Two-dimensional convolution written out by hand, three classic kernels, and two library references.

The definition used throughout, for an odd ``k x k`` kernel ``g`` indexed from ``-kc`` to ``kc``
(``kc = (k - 1) / 2``):

    (f * g)[x, y] = sum_{i, j = -kc..kc} f(x - i, y - j) g(i, j)

The minus signs are what make it a *convolution*: the kernel is applied flipped in both directions.
Cross-correlation, ``sum f(x + i, y + j) g(i, j)``, applies it as it is written; that is what
``cv2.filter2D`` and ``tf.nn.conv2d`` (and every "convolutional" layer) compute, so to reproduce
a convolution with them the kernel must be flipped first.

Borders: pixels outside the image are taken as zero (``border="zero"``, the rule of
``tf.nn.conv2d(padding="SAME")`` and of ``cv2.BORDER_CONSTANT``), or mirrored without repeating the
edge pixel (``border="reflect"``, ``cv2.BORDER_REFLECT_101``, the default of ``cv2.filter2D``).
The output has the size of the input.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

BORDERS = {"zero": ("constant", cv2.BORDER_CONSTANT), "reflect": ("reflect", cv2.BORDER_REFLECT_101)}


def _check(image: np.ndarray, kernel: np.ndarray, border: str) -> tuple[np.ndarray, np.ndarray]:
    image, kernel = np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be one 2-D grey channel, got shape {image.shape}")
    if kernel.ndim != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] % 2 == 0:
        raise ValueError(f"kernel must be square with an odd side (it has a centre), got shape {kernel.shape}")
    if border not in BORDERS:
        raise ValueError(f"unknown border {border!r}; choose one of {sorted(BORDERS)}")
    return image, kernel


def convolve2d(image: np.ndarray, kernel: np.ndarray, border: str = "zero") -> np.ndarray:
    """``(f * g)[x, y] = sum_{i,j} f(x - i, y - j) g(i, j)``, in float64, same size as ``image``.

    The loop runs over the kernel taps ``(i, j)``, not over pixels: each tap adds the whole image
    shifted by ``(i, j)`` and weighted by ``g(i, j)``, which is the formula above evaluated for every
    ``(x, y)`` at once.
    """
    f, g = _check(image, kernel, border)
    kc = g.shape[0] // 2
    padded = np.pad(f, kc, mode=BORDERS[border][0])  # padded[x + kc, y + kc] = f(x, y)
    height, width = f.shape
    out = np.zeros_like(f)
    for i in range(-kc, kc + 1):
        for j in range(-kc, kc + 1):
            shifted = padded[kc - i: kc - i + height, kc - j: kc - j + width]  # f(x - i, y - j)
            out += g[i + kc, j + kc] * shifted
    return out


def correlate2d(image: np.ndarray, kernel: np.ndarray, border: str = "zero") -> np.ndarray:
    """Cross-correlation ``sum f(x + i, y + j) g(i, j)``: convolution with the kernel flipped."""
    return convolve2d(image, np.flip(kernel), border)


def convolve_cv2(image: np.ndarray, kernel: np.ndarray, border: str = "zero") -> np.ndarray:
    """Reference: ``cv2.filter2D`` (a cross-correlation) with the flipped kernel, in float64."""
    f, g = _check(image, kernel, border)
    return cv2.filter2D(f, cv2.CV_64F, np.ascontiguousarray(np.flip(g)), borderType=BORDERS[border][1])


def convolve_tf(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Reference: ``tf.nn.conv2d`` (a cross-correlation, zero border) with the flipped kernel, in float64."""
    import tensorflow as tf

    f, g = _check(image, kernel, "zero")
    out = tf.nn.conv2d(f[None, :, :, None], np.flip(g)[:, :, None, None], strides=1, padding="SAME")
    return out.numpy()[0, :, :, 0]


def compare_with_libraries(image: np.ndarray, kernels: dict[str, np.ndarray]) -> list[dict[str, float | str]]:
    """Per kernel, the largest absolute difference between our convolution and each library route.

    The flipped-kernel routes should give 0 (up to float64 rounding for non-integer kernels); the
    unflipped one measures what forgetting the flip costs (nothing for a symmetric kernel), and the
    last column what the border rule changes (only pixels within ``kc`` of the edge).
    """
    rows = []
    for name, kernel in kernels.items():
        outputs = library_outputs(image, kernel)
        ours, ours_reflect = outputs["hand-written"], convolve2d(image, kernel, "reflect")
        rows.append({
            "kernel": name,
            "largest absolute output": float(np.abs(ours).max()),
            "cv2.filter2D (flipped, zero border)": _max_diff(ours, outputs["cv2.filter2D, flipped"]),
            "cv2.filter2D (flipped, reflect border)": _max_diff(ours_reflect, convolve_cv2(image, kernel, "reflect")),
            "tf.nn.conv2d (flipped, SAME)": _max_diff(ours, outputs["tf.nn.conv2d, flipped"]),
            "cv2.filter2D, kernel not flipped": _max_diff(ours, outputs["cv2.filter2D, not flipped"]),
            "zero vs reflect border": _max_diff(ours, ours_reflect),
        })
    return rows


def library_outputs(image: np.ndarray, kernel: np.ndarray) -> dict[str, np.ndarray]:
    """Our convolution, the two library routes with the kernel flipped, and cv2 without the flip."""
    image = np.asarray(image, dtype=np.float64)
    return {
        "hand-written": convolve2d(image, kernel),
        "cv2.filter2D, flipped": convolve_cv2(image, kernel),
        "tf.nn.conv2d, flipped": convolve_tf(image, kernel),
        "cv2.filter2D, not flipped": cv2.filter2D(image, cv2.CV_64F, np.asarray(kernel, np.float64),
                                                  borderType=cv2.BORDER_CONSTANT),
    }


def _max_diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).max())


def horizontal_edge_kernel(size: int = 5) -> np.ndarray:
    """Rows ``-kc, ..., kc`` (5x5: -2, -1, 0, 1, 2), each row constant: responds to horizontal edges."""
    kc = _half(size)
    return np.repeat(np.arange(-kc, kc + 1, dtype=np.float64)[:, None], size, axis=1)


def gaussian_kernel(size: int = 5, sigma: float = 1.0) -> np.ndarray:
    """``exp(-(i^2 + j^2) / (2 sigma^2))``: a function of the distance from the centre, maximum 1.

    Not normalised to sum 1, so it also brightens (by the kernel's sum); rescale to display.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    kc = _half(size)
    i, j = np.mgrid[-kc: kc + 1, -kc: kc + 1]
    return np.exp(-(i**2 + j**2) / (2.0 * sigma**2))


def sharpen_kernel(size: int = 3) -> np.ndarray:
    """-1 everywhere, centre ``(size - 1)^2`` (3x3: centre 4)."""
    kc = _half(size)
    kernel = -np.ones((size, size))
    kernel[kc, kc] = (size - 1) ** 2
    return kernel


def _half(size: int) -> int:
    if size < 1 or size % 2 == 0:
        raise ValueError(f"kernel size must be a positive odd number, got {size}")
    return size // 2


def rescale_for_display(image: np.ndarray) -> np.ndarray:
    """Stretch linearly to ``[0, 1]`` (a constant image becomes all zeros)."""
    image = np.asarray(image, dtype=np.float64)
    low, high = image.min(), image.max()
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def example_scans(root: str | Path, classes=("glioma", "meningioma", "pituitary")) -> dict[str, tuple[str, np.ndarray]]:
    """The first training scan (in file order) of each class: ``class -> (path, uint8 2-D image)``,
    the path relative to the dataset root (``Training/glioma/...``), the same on every machine.

    Decoded by the data layer at the scan's own resolution (grey, padded to a square), because a
    5x5 kernel is best seen on the pixels as stored rather than on a downsized copy.
    """
    from brainmri.data.images import decode_file
    from brainmri.data.scan import discover

    found = discover(root)
    scans = {}
    for label in classes:
        candidates = sorted((c.relpath for c in found.candidates if c.label == label and c.split in ("Training", "all")))
        if not candidates:
            raise ValueError(f"{found.root} has no training scan of class {label!r}")
        path = found.root / candidates[0]
        _, info = decode_file(path)
        pixels, _ = decode_file(path, max(info.width, info.height), "grayscale")
        scans[label] = (Path(candidates[0]).as_posix(), pixels[:, :, 0])
    return scans
