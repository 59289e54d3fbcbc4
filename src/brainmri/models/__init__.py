"""Classifier builders by name: ``build_model("residual_cnn", input_shape=(128, 128, 1), num_classes=4)``.

Every builder is a function ``builder(*, input_shape, num_classes, **kwargs) -> keras.Model`` that
returns a functional model taking raw pixels in ``[0, 255]`` (normalisation is inside, see
:mod:`brainmri.models.layers`) and ending in a layer named ``predictions``: a softmax over the
classes, or one sigmoid unit when ``num_classes == 2``. The output of each convolutional block is
a layer whose name ends in ``_out`` (see :mod:`brainmri.models.introspection`).

The registry holds ``"module:function"`` references, imported only when a model is built, so that
adding an architecture is one line and importing this package stays cheap.
"""

from __future__ import annotations

import importlib

import keras

from brainmri.models import layers  # noqa: F401  (registers the custom layers, so saved models load)

_BUILDERS: dict[str, str] = {
    "residual_cnn": "brainmri.models.cnn:residual_cnn",
    "plain_cnn_1": "brainmri.models.cnn:plain_cnn_1",
    "plain_cnn_2": "brainmri.models.cnn:plain_cnn_2",
    "plain_cnn_3": "brainmri.models.cnn:plain_cnn_3",
    "plain_cnn_4": "brainmri.models.cnn:plain_cnn_4",
    "binary_cnn": "brainmri.models.cnn:binary_cnn",
    "resnet50": "brainmri.models.transfer:resnet50",
    "efficientnetb0": "brainmri.models.transfer:efficientnetb0",
}

ARCHITECTURES: tuple[str, ...] = tuple(_BUILDERS)
DEFAULT_ARCH = "residual_cnn"


def get_builder(arch: str):
    """The builder function registered as ``arch``."""
    try:
        module_name, function_name = _BUILDERS[arch].split(":")
    except KeyError:
        raise ValueError(f"unknown architecture {arch!r}; choose one of {list(ARCHITECTURES)}") from None
    return getattr(importlib.import_module(module_name), function_name)


def build_model(arch: str, *, input_shape: tuple[int, int, int], num_classes: int, **kwargs) -> keras.Model:
    """Build the architecture ``arch``; ``kwargs`` go to its builder (width, depth, dropout, ...)."""
    return get_builder(arch)(input_shape=tuple(input_shape), num_classes=num_classes, **kwargs)
