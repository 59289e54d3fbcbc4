"""A convolutional variational autoencoder (plain or conditional) and its PCA baseline.

Images are grayscale ``float32`` in ``[0, 1]``, shape ``(N, S, S, 1)``, each scan divided by its own
99th-percentile intensity (:func:`normalise_intensity`; :func:`restore_intensity` undoes it for
display), so that scans from sources with different exposure look alike to the model. The encoder
maps an image (and, for the conditional VAE, a one-hot label) to ``(z_mean, z_log_var)``; the decoder
maps ``z`` (and the label) back to an image. Both are functional models usable on their own, and
``z`` is always a flat vector of ``latent_dim`` numbers: a *spatial* latent (``latent_channels``
maps at ``1 / 2**len(filters)`` of the image side) is flattened by the encoder and reshaped by the decoder.

The decoder upsamples by bilinear resizing followed by a convolution (a transposed convolution with
stride 2 leaves a checkerboard), with batch normalisation after every convolution of both halves.

The loss per image is ``reconstruction + kl_weight * KL`` where the reconstruction is summed over
pixels and ``kl_weight = beta * min(1, step / kl_warmup_steps)`` anneals the KL in over the first
steps. The default reconstruction term is a calibrated Gaussian likelihood: the negative log
density of the image under ``N(decoding, sigma^2)`` with one variance shared by all pixels, set to
the batch's mean squared residual (its maximum-likelihood value) in training and tracked as a
running average, :attr:`VAE.log_variance`, for validation. With a fixed variance (``"mse"``) or
Bernoulli pixels (``"bce"``) the weight of the reconstruction against the KL is arbitrary, and the
KL wins: the latent then carries little of the scan.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from brainmri import config
from brainmri.hardware import jit_compile
from brainmri.models.vae_data import (  # noqa: F401  (re-exported: callers import them from here)
    INTENSITY_PERCENTILE, PCABaseline, intensity_scale, local_ssim, make_vae_dataset, normalise_intensity, one_hot,
    reconstruct, restore_intensity, ssim_map, ssim_per_image, to_unit_grayscale,
)

RECONSTRUCTION_LOSSES = ("gaussian", "bce", "mse")
# Encoder widths when a caller gives none (each profile names its own, brainmri.config.Profile.vae_filters).
DEFAULT_FILTERS = (16, 32, 64, 128)
MIN_LOG_VARIANCE = -12.0  # floor of the Gaussian decoder's log-variance (sigma ~ 0.0025 of the range)
VARIANCE_MOMENTUM = 0.9  # running average of the fitted log-variance, used outside training


@keras.saving.register_keras_serializable(package="brainmri")
class Sampling(layers.Layer):
    """Reparameterisation: ``z = mean + exp(log_var / 2) * eps`` with ``eps ~ N(0, I)``."""

    def __init__(self, seed: int = config.SEED, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        eps = keras.random.normal(keras.ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + keras.ops.exp(0.5 * z_log_var) * eps

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def kl_divergence(z_mean, z_log_var):
    """KL(N(mean, exp(log_var)) || N(0, I)) per sample, summed over latent dimensions."""
    return -0.5 * tf.reduce_sum(1.0 + z_log_var - tf.square(z_mean) - tf.exp(z_log_var), axis=-1)


def gaussian_nll(x, x_hat, log_variance):
    """Per-sample negative log density (nats) of ``x`` under ``N(x_hat, exp(log_variance))`` per pixel."""
    per_pixel = 0.5 * (tf.square(x - x_hat) * tf.exp(-log_variance) + log_variance + np.log(2.0 * np.pi))
    return tf.reduce_sum(per_pixel, axis=[1, 2, 3])


def reconstruction_loss(x, x_hat, kind: str = "gaussian", ssim_weight: float = 0.0, log_variance=None):
    """Per-sample reconstruction loss summed over pixels: Gaussian negative log-likelihood (with
    ``log_variance``, by default the batch's mean squared residual's log), BCE or squared error, optionally
    ``+ ssim_weight * n_pixels * (1 - SSIM)`` (scaled by the pixel count so the weight means the same
    at any image size)."""
    if kind not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, got {kind!r}")
    if kind == "gaussian":
        if log_variance is None:
            log_variance = tf.maximum(tf.math.log(tf.reduce_mean(tf.square(x - x_hat)) + 1e-12), MIN_LOG_VARIANCE)
        loss = gaussian_nll(x, x_hat, log_variance)
    elif kind == "bce":
        x_hat_c = tf.clip_by_value(x_hat, 1e-7, 1.0 - 1e-7)
        loss = tf.reduce_sum(-(x * tf.math.log(x_hat_c) + (1.0 - x) * tf.math.log(1.0 - x_hat_c)), axis=[1, 2, 3])
    else:
        loss = tf.reduce_sum(tf.square(x - x_hat), axis=[1, 2, 3])
    if ssim_weight:
        n_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), x.dtype)
        loss += ssim_weight * n_pixels * (1.0 - tf.reduce_mean(local_ssim(x, x_hat), axis=[1, 2, 3]))
    return loss


def _check_size(image_size: int, n_down: int) -> None:
    if image_size % (2**n_down):
        raise ValueError(f"image_size {image_size} must be divisible by 2**{n_down} (one halving per filter stage)")


def _conv_block(x, filters: int, name: str, strides: int = 1):
    """Convolution -> batch normalisation -> ReLU. The batch statistics are taken over all replicas,
    so that a step on several devices is the step on one."""
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(synchronized=True, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def latent_size(image_size: int, latent_dim: int, latent_channels: int, n_down: int) -> int:
    """The flat latent length: ``latent_dim`` for a vector latent, else ``side * side * latent_channels``."""
    side = image_size // 2**n_down
    return side * side * latent_channels if latent_channels else latent_dim


def build_encoder(image_size: int, latent_dim: int, filters=DEFAULT_FILTERS, num_classes: int = 0,
                  latent_channels: int = 0) -> keras.Model:
    """Strided convolutions (each normalised) -> ``(z_mean, z_log_var)``, flat.

    Vector latent (``latent_channels=0``): dense heads of ``latent_dim`` units on the flattened
    features. Spatial latent: 1x1-convolution heads of ``latent_channels`` maps at the last
    stage's resolution, flattened (``latent_dim`` is then ignored). With ``num_classes`` the one-hot
    label is a second input, joined to the features before the heads."""
    _check_size(image_size, len(filters))
    image = keras.Input((image_size, image_size, 1), name="image")
    x = image
    for i, f in enumerate(filters):
        x = _conv_block(x, f, f"enc{i}", strides=2)
    inputs = [image]
    if num_classes:
        label = keras.Input((num_classes,), name="label")
        inputs.append(label)
        side = image_size // 2 ** len(filters)
        tiled = layers.Reshape((1, 1, num_classes), name="enc_label_map")(label)
        tiled = layers.UpSampling2D(side, name="enc_label_tile")(tiled)
        x = layers.Concatenate(name="enc_with_label")([x, tiled])
    # The latent distribution is kept in float32 under a mixed policy: exp(log_var) overflows float16.
    if latent_channels:
        z_mean, z_log_var = (
            layers.Flatten(dtype="float32", name=n)(
                layers.Conv2D(latent_channels, 1, dtype="float32", name=f"{n}_map")(x))
            for n in ("z_mean", "z_log_var"))
    else:
        x = layers.Flatten(name="enc_flatten")(x)
        z_mean = layers.Dense(latent_dim, dtype="float32", name="z_mean")(x)
        z_log_var = layers.Dense(latent_dim, dtype="float32", name="z_log_var")(x)
    return keras.Model(inputs if num_classes else image, [z_mean, z_log_var], name="encoder")


def build_decoder(image_size: int, latent_dim: int, filters=DEFAULT_FILTERS, num_classes: int = 0,
                  latent_channels: int = 0) -> keras.Model:
    """Flat ``z`` -> a ``side x side`` map (dense for a vector latent, a reshape for a spatial one) ->
    per stage: bilinear 2x resize, then a normalised convolution -> a sigmoid image.

    The resizes compute in float32 under any policy: TensorFlow computes a bilinear resize's
    gradient in float32, which XLA rejects against a float16 forward pass."""
    _check_size(image_size, len(filters))
    side = image_size // 2 ** len(filters)
    z = keras.Input((latent_size(image_size, latent_dim, latent_channels, len(filters)),), name="z")
    inputs = [z]
    x = z
    if num_classes:
        label = keras.Input((num_classes,), name="label")
        inputs.append(label)
    if latent_channels:
        x = layers.Reshape((side, side, latent_channels), name="dec_reshape")(x)
        if num_classes:
            tiled = layers.UpSampling2D(side, name="dec_label_tile")(
                layers.Reshape((1, 1, num_classes), name="dec_label_map")(label))
            x = layers.Concatenate(name="dec_with_label")([x, tiled])
        x = _conv_block(x, filters[-1], "dec_in")
    else:
        if num_classes:
            x = layers.Concatenate(name="dec_with_label")([z, label])
        x = layers.Dense(side * side * filters[-1], use_bias=False, name="dec_dense")(x)
        x = layers.Reshape((side, side, filters[-1]), name="dec_reshape")(x)
        x = layers.BatchNormalization(synchronized=True, name="dec_in_bn")(x)
        x = layers.Activation("relu", name="dec_in_relu")(x)
    for i, f in enumerate(reversed(filters)):
        x = layers.UpSampling2D(2, interpolation="bilinear", dtype="float32", name=f"dec_up{i}")(x)
        x = _conv_block(x, max(f // 2, 8), f"dec{i}")
    image = layers.Conv2D(1, 3, padding="same", activation="sigmoid", dtype="float32", name="dec_image")(x)
    return keras.Model(inputs if num_classes else z, image, name="decoder")


def _replica_mean(value):
    """``value`` averaged over the replicas in sync (itself on one device)."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas == 1:
        return value
    return tf.distribute.get_replica_context().all_reduce("sum", value) / replicas


@keras.saving.register_keras_serializable(package="brainmri")
class VAE(keras.Model):
    """Encoder + sampling + decoder with a custom ``train_step`` tracking total, reconstruction and
    KL losses and the Gaussian decoder's log-variance. Conditional when the encoder takes a label
    (``num_classes > 0``): then the training data are ``(image, one_hot_label)`` pairs, otherwise
    images alone (a label is ignored)."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, beta: float = 1.0,
                 kl_warmup_steps: int = 0, reconstruction: str = "gaussian", ssim_weight: float = 0.0,
                 seed: int = config.SEED, **kwargs):
        super().__init__(**kwargs)
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTION_LOSSES}, got {reconstruction!r}")
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.kl_warmup_steps = float(beta), int(kl_warmup_steps)
        self.reconstruction, self.ssim_weight, self.seed = reconstruction, float(ssim_weight), seed
        self.sampling = Sampling(seed=seed, dtype="float32", name="sampling")
        # The Gaussian decoder's shared log-variance: a running average of the fitted one (float32).
        self.log_variance = self.add_weight(shape=(), initializer="zeros", dtype="float32", trainable=False,
                                            aggregation="only_first_replica", name="log_variance")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "reconstruction_loss", "kl_loss", "kl_weight", "log_variance")}
        self.build()

    def build(self, input_shape=None):
        """Encoder and decoder are functional models, built at construction."""
        self.built = True

    @property
    def num_classes(self) -> int:
        return self.encoder.inputs[1].shape[-1] if len(self.encoder.inputs) > 1 else 0

    @property
    def latent_dim(self) -> int:
        """Length of the flat code ``z`` (for a spatial latent: its maps flattened)."""
        return self.encoder.outputs[0].shape[-1]

    @property
    def metrics(self):
        return list(self.trackers.values())

    def _split(self, data):
        if isinstance(data, (tuple, list)):
            x, label = data[0], (data[1] if len(data) > 1 else None)
        else:
            x, label = data, None
        if self.num_classes and label is None:
            raise ValueError("a conditional VAE needs (image, one_hot_label) pairs, got images alone")
        return x, (tf.cast(label, x.dtype) if self.num_classes else None)

    def _inputs(self, first, label):
        first = tf.convert_to_tensor(first, tf.float32)
        return [first, tf.convert_to_tensor(label, tf.float32)] if self.num_classes else first

    def encode(self, x, label=None, training=False):
        """``(z_mean, z_log_var)``, flat; ``label`` (one-hot) only for the conditional VAE."""
        return self.encoder(self._inputs(x, label), training=training)

    def decode(self, z, label=None, training=False):
        """Images in ``[0, 1]`` from flat codes; ``label`` (one-hot, or a mixture) only when conditional."""
        return self.decoder(self._inputs(z, label), training=training)

    def call(self, inputs, training=False):
        """Deterministic reconstruction through the latent mean (what figures and SSIM use)."""
        x, label = self._split(inputs)
        z_mean, _ = self.encode(x, label, training=training)
        return self.decode(z_mean, label, training=training)

    def kl_weight(self):
        step = tf.cast(self.optimizer.iterations, tf.float32) if self.optimizer is not None else 0.0
        if self.kl_warmup_steps <= 0:
            return tf.constant(self.beta)
        return self.beta * tf.minimum(1.0, (step + 1.0) / self.kl_warmup_steps)

    def _fit_log_variance(self, x, x_hat):
        """The batch's maximum-likelihood log-variance over all replicas (a constant for the
        gradient: at the optimum the loss does not change with it), folded into the running average."""
        mse = _replica_mean(tf.reduce_mean(tf.square(tf.cast(x, tf.float32) - x_hat)))
        fitted = tf.stop_gradient(tf.maximum(tf.math.log(mse + 1e-12), MIN_LOG_VARIANCE))
        first = tf.equal(self.optimizer.iterations, 0)
        self.log_variance.assign(tf.where(first, fitted, VARIANCE_MOMENTUM * self.log_variance
                                          + (1.0 - VARIANCE_MOMENTUM) * fitted))
        return fitted

    def compute_losses(self, x, label=None, training=False):
        """``(total, reconstruction, kl)`` batch means for one sampled pass. In training the Gaussian
        variance is the batch's fitted one; otherwise the running average :attr:`log_variance`."""
        z_mean, z_log_var = self.encode(x, label, training=training)
        z = self.sampling([z_mean, z_log_var])
        x_hat = self.decode(z, label, training=training)
        log_variance = None
        if self.reconstruction == "gaussian":
            log_variance = self._fit_log_variance(x, x_hat) if training else self.log_variance
        recon = tf.reduce_mean(reconstruction_loss(x, x_hat, self.reconstruction, self.ssim_weight, log_variance))
        kl = tf.reduce_mean(kl_divergence(z_mean, z_log_var))
        return recon + self.kl_weight() * kl, recon, kl

    def _update(self, total, recon, kl):
        values = {"loss": total, "reconstruction_loss": recon, "kl_loss": kl, "kl_weight": self.kl_weight(),
                  "log_variance": self.log_variance}
        for name, value in values.items():
            self.trackers[name].update_state(value)
        return {name: t.result() for name, t in self.trackers.items()}

    def train_step(self, data):
        """One step on the batch mean loss; gradients are summed over replicas, so each replica's
        loss is divided by their number, and scaled by the optimizer when it scales losses (float16)."""
        x, label = self._split(data)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        with tf.GradientTape() as tape:
            total, recon, kl = self.compute_losses(x, label, training=True)
            scaled = self.optimizer.scale_loss(total / replicas)
        grads = tape.gradient(scaled, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self._update(total, recon, kl)

    def test_step(self, data):
        x, label = self._split(data)
        return self._update(*self.compute_losses(x, label))

    def get_config(self):
        return {
            **super().get_config(),
            "encoder": keras.saving.serialize_keras_object(self.encoder),
            "decoder": keras.saving.serialize_keras_object(self.decoder),
            "beta": self.beta, "kl_warmup_steps": self.kl_warmup_steps,
            "reconstruction": self.reconstruction, "ssim_weight": self.ssim_weight, "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for part in ("encoder", "decoder"):
            config[part] = keras.saving.deserialize_keras_object(config[part])
        return cls(**config)


def build_vae(image_size: int, latent_dim: int, *, num_classes: int = 0, filters=DEFAULT_FILTERS,
              latent_channels: int = 0, beta: float = 1.0, kl_warmup_steps: int = 0,
              reconstruction: str = "gaussian", ssim_weight: float = 0.0, learning_rate: float = 1e-3,
              seed: int = config.SEED) -> VAE:
    """A compiled (conditional when ``num_classes``) VAE; a spatial latent when ``latent_channels``."""
    keras.utils.set_random_seed(seed)
    parts = dict(filters=filters, num_classes=num_classes, latent_channels=latent_channels)
    vae = VAE(build_encoder(image_size, latent_dim, **parts), build_decoder(image_size, latent_dim, **parts),
              beta=beta, kl_warmup_steps=kl_warmup_steps, reconstruction=reconstruction,
              ssim_weight=ssim_weight, seed=seed, name="cvae" if num_classes else "vae")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate), jit_compile=jit_compile())
    return vae
