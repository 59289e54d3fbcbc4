"""Test-wide settings: smoke profile, offline, and every output in a temporary folder; shared test helpers.

Set before any brainmri module reads the environment, so no test writes into figures/ or results/.
Helpers are imported by test modules with ``from conftest import ...``.
"""

import io
import os
import tempfile
from pathlib import Path

_scratch = Path(tempfile.mkdtemp(prefix="brainmri-tests-"))
os.environ["BRAINMRI_PROFILE"] = "smoke"
os.environ.pop("BRAINMRI_DATA", None)
for name in ("FIGURES", "RESULTS", "RUNS", "DATA"):
    os.environ[f"BRAINMRI_{name}_DIR"] = str(_scratch / name.lower())
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KAGGLEHUB_CACHE", str(_scratch / "kagglehub"))


def encode_image(image, fmt: str, **options) -> bytes:
    """The bytes of a PIL ``image`` saved in format ``fmt`` (``"PNG"``, ``"JPEG"``, ...) with ``options``."""
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


QUADRANT_CLASSES = ["glioma", "meningioma", "notumor", "pituitary"]
QUADRANT_SIZE = 32


def quadrant_data(n_train=32, n_val=16, seed=0):
    """Class k = a bright square in quadrant k of a dark noisy 32 px image: learnable in a few steps.

    A ``SplitArrays``-like namespace (``x_train``, ``y_train``, ``x_val``, ``y_val``, ``class_names``).
    """
    import types

    import numpy as np

    rng = np.random.default_rng(seed)
    half = QUADRANT_SIZE // 2

    def make(n):
        y = np.arange(n) % 4
        x = rng.integers(0, 60, (n, QUADRANT_SIZE, QUADRANT_SIZE, 1)).astype(np.uint8)
        for i, k in enumerate(y):
            r, c = divmod(int(k), 2)
            x[i, r * half:(r + 1) * half, c * half:(c + 1) * half] += 150
        return x, y

    (x_train, y_train), (x_val, y_val) = make(n_train), make(n_val)
    return types.SimpleNamespace(x_train=x_train, y_train=y_train, x_val=x_val, y_val=y_val,
                                 class_names=list(QUADRANT_CLASSES), source=types.SimpleNamespace(root="arrays"))
