"""Decoding every colour mode to the same square uint8 array, and rejecting bad bytes with a reason."""

import cv2
import numpy as np
import pytest
from PIL import Image

from brainmri.data.images import BadImageError, decode_bytes, difference_hash, pad_to_square
from conftest import encode_image

SIZE = 32


def _ramp(height=40, width=40) -> np.ndarray:
    """A grey image with structure: horizontal ramp plus a bright square."""
    pixels = np.tile(np.linspace(0, 200, width, dtype=np.uint8), (height, 1))
    pixels[10:20, 10:20] = 255
    return pixels


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA", "1"])
def test_png_modes_decode_to_the_same_grey_picture(mode):
    grey = _ramp()
    reference, _ = decode_bytes(encode_image(Image.fromarray(grey), "PNG"), SIZE)
    image = Image.fromarray(grey).convert(mode)
    pixels, info = decode_bytes(encode_image(image, "PNG"), SIZE)
    assert info.mode == mode and pixels.shape == (SIZE, SIZE, 1) and pixels.dtype == np.uint8
    tolerance = 130 if mode == "1" else 8  # 1-bit dithers; the rest keep the grey levels
    assert np.abs(pixels.astype(int) - reference.astype(int)).mean() < tolerance


def test_cmyk_jpeg_decodes_with_correct_colours():
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[:, :20] = (200, 30, 30)  # red left half
    data = encode_image(Image.fromarray(rgb).convert("CMYK"), "JPEG", quality=95)
    pixels, info = decode_bytes(data, SIZE, "rgb")
    assert info.mode == "CMYK" and pixels.shape == (SIZE, SIZE, 3)
    left = pixels[:, : SIZE // 2 - 2].reshape(-1, 3).mean(axis=0)
    assert left[0] > 150 and left[1] < 80 and left[2] < 80, left


def test_rgb_is_returned_in_rgb_order():
    rgb = np.zeros((40, 40, 3), np.uint8)
    rgb[..., 2] = 220  # pure blue
    pixels, _ = decode_bytes(encode_image(Image.fromarray(rgb), "PNG"), SIZE, "rgb")
    assert pixels[..., 2].min() == 220 and pixels[..., 0].max() == 0


def test_sixteen_bit_png_is_scaled_not_clipped():
    twelve_bit = np.tile(np.linspace(0, 4095, 64), (64, 1)).astype(np.uint16)
    ok, encoded = cv2.imencode(".png", twelve_bit)
    pixels, info = decode_bytes(encoded.tobytes(), 64)
    assert info.mode.startswith("I;16")
    row = pixels[32, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255  # full range used
    assert np.all(np.diff(row) >= 0) and len(np.unique(row)) > 50  # a ramp, not saturated


def test_jpeg_grey_and_rgb_agree():
    grey = _ramp(512, 512)
    grey_jpeg = encode_image(Image.fromarray(grey), "JPEG", quality=95)
    rgb_jpeg = encode_image(Image.fromarray(grey).convert("RGB"), "JPEG", quality=95)
    a, info_a = decode_bytes(grey_jpeg, SIZE)
    b, info_b = decode_bytes(rgb_jpeg, SIZE)
    assert (info_a.mode, info_b.mode) == ("L", "RGB")
    assert np.abs(a.astype(int) - b.astype(int)).max() <= 6


def test_non_square_images_are_padded_not_stretched():
    tall = np.full((60, 20), 255, np.uint8)
    square = pad_to_square(tall)
    assert square.shape == (60, 60) and square[:, :20].max() == 0 and square[:, 20:40].min() == 255
    pixels, _ = decode_bytes(encode_image(Image.fromarray(tall), "PNG"), 30)
    assert pixels[:, :8].max() == 0 and pixels[:, 12:18].min() == 255


@pytest.mark.parametrize("data, reason", [
    (b"", "empty file"),
    (b"hello, this is a text file\n", "not an image"),
    (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "corrupt"),
])
def test_bad_bytes_raise_with_reason(data, reason):
    with pytest.raises(BadImageError, match=reason):
        decode_bytes(data, SIZE)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_are_rejected(fmt):
    data = encode_image(Image.fromarray(_ramp(128, 128)), fmt)
    with pytest.raises(BadImageError, match="truncated"):
        decode_bytes(data[: len(data) // 2], SIZE)


def test_hash_is_stable_under_reencoding_and_differs_between_pictures():
    grey = _ramp(256, 256)
    other = np.ascontiguousarray(grey[:, ::-1])

    def bits(a, b):
        return bin(int(a, 16) ^ int(b, 16)).count("1")

    original = difference_hash(grey)
    reencoded, _ = decode_bytes(encode_image(Image.fromarray(grey), "JPEG", quality=70))
    _, info = decode_bytes(encode_image(Image.fromarray(grey), "JPEG", quality=70))
    assert reencoded is None and len(original) == 64  # 256 bits in hex
    assert bits(original, info.dhash) <= 20
    assert bits(original, difference_hash(other)) > 60


def test_trailing_bytes_after_the_end_marker_are_not_truncation():
    data = encode_image(Image.fromarray(_ramp()), "JPEG") + b"\x00" * 300  # e.g. vendor metadata
    pixels, info = decode_bytes(data, SIZE)
    assert info.format == "JPEG" and pixels.shape == (SIZE, SIZE, 1)
