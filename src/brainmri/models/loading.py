"""Load a saved ``.keras`` model of this package.

Importing :mod:`brainmri.models` registers the package's custom layers (see
:mod:`brainmri.models.layers`), which Keras must know before it can deserialise a saved model.
"""

from __future__ import annotations

from pathlib import Path

import keras

import brainmri.models  # noqa: F401  (registers the custom layers, so saved models load)
from brainmri.hardware import apply_jit_compile


def load_classifier(path: str | Path) -> keras.Model:
    """The classifier saved at ``path``; a missing or unreadable file raises an error naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"model file {path} does not exist")
    try:
        return apply_jit_compile(keras.models.load_model(path))
    except Exception as err:  # Keras raises ValueError, OSError or zipfile errors for a damaged file
        raise ValueError(f"cannot load model file {path}: {err}") from err
