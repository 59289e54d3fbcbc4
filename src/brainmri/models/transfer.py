"""Classifiers on ImageNet backbones from ``keras.applications``: building, freezing, parameter counts.

The model takes raw pixels in ``[0, 255]`` like every classifier here (CONTRIBUTING.md). Inside it,
a grayscale scan is tiled to three channels, the backbone's own ImageNet preprocessing is applied
(ResNet50: RGB to BGR and mean subtraction; EfficientNetB0 carries its rescaling and normalisation
inside the application itself), and the backbone, a nested model named ``backbone``, feeds a new
head: global average pooling, layer normalisation, dropout, dense ``predictions``.

The layer normalisation (as in ConvNeXt's head) makes the head independent of the scale of the
backbone's features. Pretrained features are of order one; those of a randomly initialised
EfficientNetB0 in inference mode are of order 1e-6 (each of its 16 squeeze-and-excitation gates
roughly halves the signal), and a dense head fed directly with them does not learn at all.

Fine-tuning (:mod:`brainmri.finetune`) has two stages: first the backbone is frozen and only the
head learns (:func:`freeze_backbone`); then the last stage of the backbone (the layers at its
coarsest resolution: ResNet50's ``conv5``, EfficientNetB0's ``block6``, ``block7`` and ``top``)
is unfrozen (:func:`unfreeze_last_stage`) and trained with a lower learning rate. Batch
normalisation stays in inference mode throughout: the backbone is called with ``training=False``
and its BatchNormalization layers are never made trainable, so a few small batches of MRI cannot
overwrite the ImageNet statistics.

ImageNet weights are downloaded by Keras on first use. Where they cannot be (offline, as in CI),
the builder prints one line and continues with random initialisation; the model name records which
(``efficientnetb0_imagenet`` or ``efficientnetb0_random``).
"""

from __future__ import annotations

import math
import re
import socket
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers

from brainmri.models.layers import CaffePreprocess, GrayscaleToRGB, check_input, classifier_output

BACKBONE_LAYER = "backbone"
_STAGE = re.compile(r"conv\d+|block\d+|[a-z]+")  # stage of a backbone layer, from its name
HEAD_NORM_EPSILON = 1e-20  # far below the feature variance of even a random backbone (about 1e-12, see above)
DOWNLOAD_TIMEOUT_S = 30.0  # per socket operation, so an unreachable host fails instead of hanging


@dataclass(frozen=True)
class Backbone:
    """How to build one ``keras.applications`` backbone and which of its layers form the last stage."""

    application: Callable[..., keras.Model]
    preprocessing: Callable[[], layers.Layer] | None  # None: the application preprocesses itself
    last_stage: tuple[str, ...]  # layer-name prefixes unfrozen in the second stage


BACKBONES: dict[str, Backbone] = {
    "resnet50": Backbone(
        keras.applications.ResNet50, lambda: CaffePreprocess(name="imagenet_preprocess"), ("conv5_",)
    ),
    "efficientnetb0": Backbone(keras.applications.EfficientNetB0, None, ("block6", "block7", "top_")),
}
MIN_INPUT_SIDE = 32  # keras.applications refuses smaller inputs


@contextmanager
def _download_guard(timeout_s: float):
    """Bound every socket operation of a download, and keep Keras's progress lines out of the output."""
    previous_timeout = socket.getdefaulttimeout()
    interactive = keras.config.is_interactive_logging_enabled()
    socket.setdefaulttimeout(timeout_s)
    keras.config.disable_interactive_logging()
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous_timeout)
        if interactive:
            keras.config.enable_interactive_logging()


def load_backbone(arch: str, input_shape: tuple[int, int, int], weights: str | None = "imagenet") -> tuple[keras.Model, bool]:
    """The backbone (no top) named ``backbone``, and whether it holds ImageNet weights.

    ``weights="imagenet"`` downloads (or reads from the Keras cache) the ImageNet weights; if that
    fails, one line says why and the backbone is randomly initialised. Invalid arguments still
    raise: only the download is allowed to fail.
    """
    spec = _spec(arch)
    build = lambda w: spec.application(include_top=False, weights=w, input_shape=input_shape, name=BACKBONE_LAYER)  # noqa: E731
    if weights is None:
        return build(None), False
    if weights != "imagenet":
        raise ValueError(f"{arch}: weights must be 'imagenet' or None, got {weights!r}")
    try:
        with _download_guard(DOWNLOAD_TIMEOUT_S):
            backbone = build("imagenet")
    except (ValueError, TypeError):
        raise
    except Exception as err:  # Keras reports a failed download as a bare Exception
        reason = str(err).rsplit(" -- ", 1)[-1]
        print(f"{arch}: ImageNet weights unavailable ({reason}); continuing with random initialisation")
        return build(None), False
    print(f"{arch}: ImageNet weights loaded")
    return backbone, True


def transfer_classifier(
    arch: str, *, input_shape: tuple[int, int, int], num_classes: int, weights: str | None = "imagenet",
    dropout: float = 0.3,
) -> keras.Model:
    """``image`` -> [``to_rgb``] -> [preprocessing] -> ``backbone`` (frozen) -> ``gap`` -> ``head_norm`` -> ``dropout`` -> ``predictions``."""
    shape = check_input(input_shape, num_classes)
    if min(shape[:2]) < MIN_INPUT_SIDE:
        raise ValueError(f"{arch}: input sides must be at least {MIN_INPUT_SIDE} pixels, got {shape[:2]}")
    if not 0 <= dropout < 1:
        raise ValueError(f"{arch}: dropout must be in [0, 1), got {dropout}")
    backbone, pretrained = load_backbone(arch, (*shape[:2], 3), weights)
    backbone.trainable = False
    inputs = keras.Input(shape=shape, name="image")
    x = GrayscaleToRGB(name="to_rgb")(inputs) if shape[2] == 1 else inputs
    preprocessing = _spec(arch).preprocessing
    if preprocessing is not None:
        x = preprocessing()(x)
    x = backbone(x, training=False)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.LayerNormalization(epsilon=HEAD_NORM_EPSILON, name="head_norm")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    outputs = classifier_output(x, num_classes)
    return keras.Model(inputs, outputs, name=f"{arch}_{'imagenet' if pretrained else 'random'}")


def resnet50(*, input_shape, num_classes, weights: str | None = "imagenet", dropout: float = 0.3) -> keras.Model:
    """ResNet50 (23.6 M backbone parameters, 2048 features) with a new head; backbone frozen."""
    return transfer_classifier("resnet50", input_shape=input_shape, num_classes=num_classes, weights=weights, dropout=dropout)


def efficientnetb0(*, input_shape, num_classes, weights: str | None = "imagenet", dropout: float = 0.3) -> keras.Model:
    """EfficientNetB0 (4.0 M backbone parameters, 1280 features) with a new head; backbone frozen."""
    return transfer_classifier("efficientnetb0", input_shape=input_shape, num_classes=num_classes, weights=weights, dropout=dropout)


def get_backbone(model: keras.Model) -> keras.Model:
    """The nested backbone of a model built here (or loaded from its ``.keras`` file)."""
    try:
        return model.get_layer(BACKBONE_LAYER)
    except ValueError:
        raise ValueError(f"model {model.name!r} has no layer named {BACKBONE_LAYER!r}: not a transfer classifier") from None


def arch_of(model: keras.Model) -> str:
    """The backbone name (``resnet50``, ...) recorded in the model's name."""
    arch = model.name.rsplit("_", 1)[0]
    _spec(arch)
    return arch


def is_pretrained(model: keras.Model) -> bool:
    """Whether the model was built on ImageNet weights (recorded in its name, so it survives saving)."""
    return model.name.endswith("_imagenet")


def freeze_backbone(model: keras.Model) -> None:
    """Stage one: only the head trains. Recompile afterwards."""
    get_backbone(model).trainable = False


def unfreeze_last_stage(model: keras.Model) -> list[str]:
    """Stage two: make the backbone's last stage trainable, except BatchNormalization; return those layers' names.

    Recompile afterwards (with a lower learning rate).
    """
    backbone = get_backbone(model)
    prefixes = _spec(arch_of(model)).last_stage
    backbone.trainable = True
    unfrozen = []
    for layer in backbone.layers:
        layer.trainable = layer.name.startswith(prefixes) and not isinstance(layer, layers.BatchNormalization)
        if layer.trainable and layer.weights:
            unfrozen.append(layer.name)
    return unfrozen


def parameter_counts(model: keras.Model) -> dict[str, int]:
    """Trainable and non-trainable parameter counts, as the optimiser sees them."""
    return {"trainable": _size(model.trainable_weights), "non_trainable": _size(model.non_trainable_weights)}


def trainable_report(model: keras.Model) -> list[dict[str, object]]:
    """Which layers train: one row per group of layers with weights (backbone layers grouped by stage).

    A backbone layer's group is its stage, read from its name (``conv5``, ``block6``, ``top``); head
    layers are listed by name. Each row: group, layers, trainable layers, parameters, trainable
    parameters.
    """
    rows: dict[str, dict[str, object]] = {}

    def add(group: str, layer) -> None:
        params, trainable = _size(layer.weights), _size(layer.trainable_weights)
        row = rows.setdefault(group, {"group": group, "layers": 0, "trainable_layers": 0, "params": 0, "trainable_params": 0})
        row["layers"] += 1
        row["trainable_layers"] += int(trainable > 0)
        row["params"] += params
        row["trainable_params"] += trainable

    for layer in model.layers:
        if layer.name == BACKBONE_LAYER:
            for inner in layer.layers:
                if inner.weights:
                    add(f"backbone/{_STAGE.match(inner.name).group(0)}", inner)
        elif layer.weights:
            add(layer.name, layer)
    return list(rows.values())


def trainable_summary(model: keras.Model) -> list[dict[str, object]]:
    """:func:`trainable_report` with a final ``total`` row."""
    rows = trainable_report(model)
    totals = {key: sum(row[key] for row in rows) for key in rows[0] if key != "group"}
    return [*rows, {"group": "total", **totals}]


def _size(weights) -> int:
    return sum(math.prod(w.shape) for w in weights)


def _spec(arch: str) -> Backbone:
    try:
        return BACKBONES[arch]
    except KeyError:
        raise ValueError(f"unknown backbone {arch!r}; choose one of {sorted(BACKBONES)}") from None
