"""Class activation maps for a whole batch in one forward and one backward pass.

Four explainers share one interface (:class:`Explainer`): Grad-CAM, Grad-CAM++, CAM, and
Grad-CAM++ averaged over noisy copies of the scan. They differ only in how they weight the target
layer's feature maps (:meth:`Explainer.combine`) or which inputs they average over, so a new
method is one small class. *What* is explained is a separate object, the target
(:class:`ClassLogit` by default, :class:`ClassProbability` as an alternative): it turns the
model's scores into one number per image, for a chosen class or the predicted one.

The target layer is found automatically (the last layer with a 4-D output, looking inside a
nested backbone such as a ``keras.applications`` model) or named, as ``"stage3_block1_out"`` or
``"backbone/conv5_block3_out"``. A layer inside a nested model is not connected to the outer
model's graph, so ``keras.Model(model.inputs, inner_layer.output)`` fails; :func:`tap_model`
instead splits the outer model around the nested one and calls three connected pieces in a row.

Every model here ends in a dense layer (``predictions``, softmax or one sigmoid unit). The
explainers differentiate its pre-activation scores (logits), computed from that layer's weights
and its input: a softmax probability saturates, and it mixes in the other classes' scores.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import keras
import numpy as np
import tensorflow as tf

from brainmri.data.split import examples_per_class

LAYER_PATH_SEPARATOR = "/"
MACHINE_EPSILON = {"float32": 2.0**-23, "float16": 2.0**-10, "bfloat16": 2.0**-7}


# ----------------------------------------------------------------------------- target layer


def _has_4d_output(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.InputLayer):
        return False
    try:
        return len(layer.output.shape) == 4
    except (AttributeError, ValueError):  # a layer never called, or called more than once
        return False


def find_target_layer(model: keras.Model) -> list[keras.layers.Layer]:
    """The last layer with a 4-D output, as a path from ``model`` down through nested models.

    A nested model whose output is 4-D (a backbone) is entered and searched the same way, so the
    path ends at a real layer: ``[backbone, conv5_block3_out]``.
    """
    for layer in reversed(model.layers):
        if _has_4d_output(layer):
            if isinstance(layer, keras.Model):
                return [layer, *find_target_layer(layer)]
            return [layer]
    raise ValueError(f"model {model.name!r} has no layer with a 4-D output (height, width, channels) to explain")


def resolve_layer(model: keras.Model, name: str | None) -> list[keras.layers.Layer]:
    """The path to the layer called ``name`` (``"outer/inner"`` descends into nested models); None: automatic."""
    if name is None:
        return find_target_layer(model)
    path, current = [], model
    for part in name.split(LAYER_PATH_SEPARATOR):
        if not isinstance(current, keras.Model):
            raise ValueError(f"layer path {name!r}: {current.name!r} is not a nested model")
        try:
            current = current.get_layer(part)
        except ValueError:
            raise ValueError(f"layer path {name!r}: model {current.name!r} has no layer {part!r}") from None
        path.append(current)
    if not _has_4d_output(path[-1]):
        raise ValueError(f"layer {name!r} of model {model.name!r} has no single 4-D output to explain")
    return path


def block_outputs(model: keras.Model, suffix: str = "_out") -> list[str]:
    """Names of the layers that end a convolutional block (``*_out`` in our builders), input side first."""
    return [layer.name for layer in model.layers if layer.name.endswith(suffix) and _has_4d_output(layer)]


def layer_path_name(path: list[keras.layers.Layer]) -> str:
    return LAYER_PATH_SEPARATOR.join(layer.name for layer in path)


def _single_call(nested: keras.Model) -> "keras.src.ops.node.Node":
    nodes = nested._inbound_nodes
    if len(nodes) != 1 or len(nodes[0].input_tensors) != 1:
        raise ValueError(
            f"nested model {nested.name!r} must be called exactly once on one input to be explained "
            f"through; it has {len(nodes)} calls"
        )
    return nodes[0]


def _single_input(model: keras.Model):
    if len(model.inputs) != 1:
        raise ValueError(f"model {model.name!r} has {len(model.inputs)} inputs; explainers take one image input")
    return model.inputs[0]


def tap_model(model: keras.Model, path: list[keras.layers.Layer], output) -> keras.Model:
    """A model from ``model``'s input to ``[activation of path[-1], output]``.

    ``output`` is a tensor of ``model``'s own graph. When the target sits inside a nested model,
    the outer model is cut into the part before the nested call and the part after it, and the
    nested model is tapped recursively; calling the three in a row gives a connected graph.
    """
    first = path[0]
    if len(path) == 1:
        # A nested model's ``.output`` is a tensor of its own graph; its output in ``model`` is its call's.
        activation = _single_call(first).output_tensors[0] if isinstance(first, keras.Model) else first.output
        return keras.Model(_single_input(model), [activation, output])
    node = _single_call(first)
    inner = tap_model(first, path[1:], first.output)
    before = keras.Model(_single_input(model), node.input_tensors[0])
    try:
        after = keras.Model(node.output_tensors[0], output)
    except ValueError as err:
        raise ValueError(
            f"model {model.name!r}: the layers after nested model {first.name!r} use more than its "
            f"output, so they cannot be re-attached to a tap inside it ({err})"
        ) from None
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name="tap_input")
    activation, nested_out = inner(before(inputs))
    return keras.Model(inputs, [activation, after(nested_out)], name=f"{model.name}_tap")


def _dense_head(model: keras.Model) -> keras.layers.Dense:
    head = model.layers[-1]
    if not isinstance(head, keras.layers.Dense):
        raise ValueError(
            f"model {model.name!r} must end in a Dense layer (softmax or one sigmoid unit) to be "
            f"explained; its last layer {head.name!r} is a {type(head).__name__}"
        )
    return head


# ----------------------------------------------------------------------------- targets


def _predicted(logits: tf.Tensor) -> tf.Tensor:
    if logits.shape[-1] == 1:
        return tf.cast(logits[:, 0] >= 0, tf.int32)
    return tf.argmax(logits, axis=-1, output_type=tf.int32)


def class_probabilities(logits: tf.Tensor) -> tf.Tensor:
    """(B, K) class probabilities; a single sigmoid unit becomes two columns [P(0), P(1)]."""
    if logits.shape[-1] == 1:
        p = tf.sigmoid(logits)
        return tf.concat([1 - p, p], axis=-1)
    return tf.nn.softmax(logits, axis=-1)


def _pick(values: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
    return tf.gather(values, class_index, axis=1, batch_dims=1)


class ClassLogit:
    """The pre-activation score of the class: its logit, or +/- the logit of a single sigmoid unit."""

    def __call__(self, logits: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
        if logits.shape[-1] == 1:
            sign = tf.cast(2 * class_index - 1, logits.dtype)
            return sign * logits[:, 0]
        return _pick(logits, class_index)


class ClassProbability:
    """The probability of the class (saturates for confident predictions; kept for comparison)."""

    def __call__(self, logits: tf.Tensor, class_index: tf.Tensor) -> tf.Tensor:
        return _pick(class_probabilities(logits), class_index)


# ----------------------------------------------------------------------------- explainers


@dataclass
class Explanation:
    """Heatmaps for a batch and what they explain."""

    heatmaps: np.ndarray  # (B, H, W) float32 in [0, 1], upsampled to the input
    raw: np.ndarray  # (B, h, w) the map at the target layer's resolution, before normalisation
    class_index: np.ndarray  # (B,) the class explained
    probability: np.ndarray  # (B,) the model's probability of that class
    predicted: np.ndarray  # (B,) the predicted class
    predicted_probability: np.ndarray  # (B,)
    method: str
    layer: str


def _as_index(class_index, batch: int) -> tf.Tensor | None:
    if class_index is None:
        return None
    index = np.broadcast_to(np.asarray(class_index, dtype=np.int32), (batch,))
    return tf.constant(index)


def upsample_and_normalise(raw: np.ndarray | tf.Tensor, size: tuple[int, int]) -> np.ndarray:
    """Bilinear upsampling to ``size`` and per-map min-max scaling to [0, 1] (a flat map becomes 0)."""
    maps = tf.image.resize(tf.convert_to_tensor(raw, tf.float32)[..., None], size, method="bilinear")[..., 0]
    low = tf.reduce_min(maps, axis=(1, 2), keepdims=True)
    span = tf.reduce_max(maps, axis=(1, 2), keepdims=True) - low
    return tf.where(span > 0, (maps - low) / tf.maximum(span, 1e-12), 0.0).numpy().astype(np.float32)


class Explainer:
    """Base class: one forward and one backward pass for the batch; subclasses weight the feature maps.

    ``layer``: the target layer's name (``"a/b"`` inside nested models) or None for the last 4-D
    layer. ``target``: what is explained (default :class:`ClassLogit`).
    """

    name = "explainer"
    needs_gradients = True

    def __init__(self, model: keras.Model, *, layer: str | None = None, target=None):
        self.model = model
        self.head = _dense_head(model)
        self.path = resolve_layer(model, layer)
        self.layer = layer_path_name(self.path)
        self.target = target or ClassLogit()
        self.tap = tap_model(model, self.path, self.head.input)

    def logits(self, features: tf.Tensor) -> tf.Tensor:
        """The head's pre-activation scores, in float32 whatever the model's dtype policy."""
        kernel, bias = (tf.cast(w, tf.float32) for w in (self.head.kernel, self.head.bias))
        return tf.matmul(tf.cast(features, tf.float32), kernel) + bias

    def forward_backward(self, images: tf.Tensor, class_index: tf.Tensor | None):
        """Activations, gradients of the target score w.r.t. them, logits and the class explained.

        One tape for the whole batch: images do not interact in inference mode, so the gradient
        of the summed scores with respect to image i's activations is image i's own gradient.
        Activations, gradients and logits come back in float32, whatever the model's dtype policy,
        so that Grad-CAM++'s squared and cubed gradients do not underflow in float16.
        """
        with tf.GradientTape() as tape:  # records the ops because they read the model's variables
            activations, features = self.tap(images, training=False)
            logits = self.logits(features)
            chosen = _predicted(logits) if class_index is None else class_index
            scores = self.target(logits, chosen)
        gradients = tf.cast(tape.gradient(scores, activations), tf.float32) if self.needs_gradients else None
        return tf.cast(activations, tf.float32), gradients, logits, chosen, tf.cast(features, tf.float32)

    def combine(self, activations, gradients, class_index, features) -> tf.Tensor:
        """(B, h, w, k) activations -> (B, h, w) map. Subclasses implement their method here."""
        raise NotImplementedError

    def explain(self, images, class_index=None) -> Explanation:
        """Explain ``images`` (B, H, W, C) raw pixels for ``class_index`` (int, (B,) ints, or None: predicted)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim != 4:
            raise ValueError(f"{self.name}: images must be (batch, height, width, channels), got shape {images.shape}")
        batch_index = _as_index(class_index, len(images))
        activations, gradients, logits, chosen, features = self.forward_backward(tf.constant(images), batch_index)
        raw = self.combine(activations, gradients, chosen, features)
        probs = class_probabilities(logits)
        predicted = _predicted(logits)
        return Explanation(
            heatmaps=upsample_and_normalise(raw, images.shape[1:3]),
            raw=np.asarray(raw, dtype=np.float32),
            class_index=chosen.numpy(),
            probability=_pick(probs, chosen).numpy(),
            predicted=predicted.numpy(),
            predicted_probability=_pick(probs, predicted).numpy(),
            method=self.name,
            layer=self.layer,
        )


class GradCAM(Explainer):
    """Selvaraju et al. 2017: ReLU of the feature maps weighted by their spatially averaged gradients."""

    name = "Grad-CAM"

    def combine(self, activations, gradients, class_index, features):
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


class GradCAMPlusPlus(Explainer):
    """Chattopadhyay et al. 2018: per-location weights from second- and third-order gradient terms.

    Uses the usual closed form for an exponential of the score, in which the higher derivatives are
    powers of the first one.
    """

    name = "Grad-CAM++"

    def combine(self, activations, gradients, class_index, features):
        g2 = tf.square(gradients)
        g3 = g2 * gradients
        denominator = 2 * g2 + tf.reduce_sum(activations, axis=(1, 2), keepdims=True) * g3
        alpha = tf.math.divide_no_nan(g2, denominator)
        weights = tf.reduce_sum(alpha * tf.nn.relu(gradients), axis=(1, 2), keepdims=True)
        return tf.nn.relu(tf.reduce_sum(weights * activations, axis=-1))


class SmoothGradCAMPlusPlus(GradCAMPlusPlus):
    """Grad-CAM++ averaged over noisy copies of each scan (SmoothGrad, Smilkov et al. 2017).

    A gradient is a local, jittery quantity: two scans that differ by imperceptible noise can get
    visibly different maps. Averaging the raw Grad-CAM++ maps of ``samples`` copies, each with
    Gaussian noise of ``noise_fraction`` times the scan's intensity range added, keeps what is
    stable. (Omeiza et al. 2019, "Smooth Grad-CAM++", average the gradients instead; averaging the
    maps is the same idea one step later and works with any explainer.) The class is chosen, and
    its probability reported, on the clean scan. The noise fields are drawn from ``seed`` and shared
    by every scan in a batch, so a scan gets the same map alone as in any batch.
    """

    name = "Smooth Grad-CAM++"

    def __init__(self, model: keras.Model, *, layer: str | None = None, target=None, samples: int = 16,
                 noise_fraction: float = 0.2, seed: int = 0):
        if samples < 1 or noise_fraction < 0:
            raise ValueError(f"{self.name}: samples must be >= 1 and noise_fraction >= 0; got {samples}, {noise_fraction}")
        super().__init__(model, layer=layer, target=target)
        self.samples, self.noise_fraction, self.seed = samples, noise_fraction, seed

    def explain(self, images, class_index=None) -> Explanation:
        clean = super().explain(images, class_index)
        images = np.asarray(images, dtype=np.float32)
        spread = images.max(axis=(1, 2, 3), keepdims=True) - images.min(axis=(1, 2, 3), keepdims=True)
        rng = np.random.default_rng(self.seed)
        raw = np.zeros_like(clean.raw)
        for _ in range(self.samples):
            noise = rng.standard_normal(images.shape[1:], dtype=np.float32)
            raw += super().explain(images + self.noise_fraction * spread * noise, clean.class_index).raw
        raw /= self.samples
        return replace(clean, raw=raw, heatmaps=upsample_and_normalise(raw, images.shape[1:3]), method=self.name)


class CAM(Explainer):
    """Zhou et al. 2016: feature maps weighted by the output weights of the class; needs GAP + dense.

    With a linear score that equals the Grad-CAM map times h * w. A model whose head input is not
    the spatial average of the target layer's maps is refused.
    """

    name = "CAM"
    needs_gradients = False

    def combine(self, activations, gradients, class_index, features):
        averaged = tf.reduce_mean(activations, axis=(1, 2))
        tolerance = max(1e-4, 8 * MACHINE_EPSILON[self.path[-1].compute_dtype])
        if averaged.shape[-1] != features.shape[-1] or not np.allclose(averaged, features, rtol=tolerance,
                                                                        atol=tolerance):
            raise ValueError(
                f"CAM needs global average pooling of layer {self.layer!r} straight into the dense "
                f"layer {self.head.name!r} of model {self.model.name!r}; use GradCAM for this model"
            )
        kernel = tf.cast(self.head.kernel, tf.float32)
        if kernel.shape[-1] == 1:  # one sigmoid unit: class 1 is +w, class 0 is -w
            sign = tf.cast(2 * class_index - 1, kernel.dtype)
            class_weights = sign[:, None] * tf.transpose(kernel)
        else:
            class_weights = tf.gather(tf.transpose(kernel), class_index)
        return tf.nn.relu(tf.einsum("bhwk,bk->bhw", activations, class_weights))


EXPLAINERS: dict[str, type[Explainer]] = {cls.name: cls for cls in (GradCAM, GradCAMPlusPlus, SmoothGradCAMPlusPlus, CAM)}


def pick_examples(labels: np.ndarray, predicted: np.ndarray, *, per_class: int = 1, wrong: int = 4, seed: int = 0) -> np.ndarray:
    """Indices to show: ``per_class`` correct predictions of every class, then up to ``wrong`` mistakes."""
    rng = np.random.default_rng(seed)
    labels, predicted = np.asarray(labels), np.asarray(predicted)
    chosen = list(examples_per_class(labels, per_class, rng, eligible=labels == predicted))
    mistakes = np.flatnonzero(labels != predicted)
    chosen.extend(rng.permutation(mistakes)[:wrong])
    return np.asarray(chosen, dtype=int)


def heatmaps_in_batches(explainer: Explainer, images: np.ndarray, class_index: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """(N, H, W) heatmaps of ``class_index`` for many images, one batched pass per ``batch_size``."""
    out = [explainer.explain(images[i : i + batch_size], class_index[i : i + batch_size]).heatmaps
           for i in range(0, len(images), batch_size)]
    return np.concatenate(out) if out else np.zeros((0, *images.shape[1:3]), np.float32)
