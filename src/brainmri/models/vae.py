"""A convolutional variational autoencoder (plain or conditional) and its PCA baseline.

Images are grayscale ``float32`` in ``[0, 1]``, shape ``(N, S, S, 1)``. The encoder maps an image
(and, for the conditional VAE, a one-hot label) to ``(z_mean, z_log_var)``; the decoder maps ``z``
(and the label) back to an image. Both are functional models usable on their own.

The loss per image is ``reconstruction + kl_weight * KL`` where the reconstruction is summed over
pixels (so its scale grows with the image, as the KL's does with the latent) and
``kl_weight = beta * min(1, step / kl_warmup_steps)`` anneals the KL in over the first steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers
from sklearn.decomposition import PCA

from brainmri import config

RECONSTRUCTION_LOSSES = ("bce", "mse")
# Narrow on purpose: the default profile trains on ~4,400 scans at 128 px on two shared CPU cores.
DEFAULT_FILTERS = (16, 32, 64, 128)


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


def reconstruction_loss(x, x_hat, kind: str = "bce", ssim_weight: float = 0.0):
    """Per-sample reconstruction loss summed over pixels: BCE or squared error, optionally
    ``+ ssim_weight * n_pixels * (1 - SSIM)`` (scaled by the pixel count so the weight means the same
    at any image size)."""
    if kind not in RECONSTRUCTION_LOSSES:
        raise ValueError(f"reconstruction loss must be one of {RECONSTRUCTION_LOSSES}, got {kind!r}")
    x_hat_c = tf.clip_by_value(x_hat, 1e-7, 1.0 - 1e-7)
    if kind == "bce":
        per_pixel = -(x * tf.math.log(x_hat_c) + (1.0 - x) * tf.math.log(1.0 - x_hat_c))
    else:
        per_pixel = tf.square(x - x_hat)
    loss = tf.reduce_sum(per_pixel, axis=[1, 2, 3])
    if ssim_weight:
        n_pixels = tf.cast(tf.reduce_prod(tf.shape(x)[1:]), x.dtype)
        loss += ssim_weight * n_pixels * (1.0 - tf.image.ssim(x, x_hat, max_val=1.0))
    return loss


def _check_size(image_size: int, n_down: int) -> None:
    if image_size % (2**n_down):
        raise ValueError(f"image_size {image_size} must be divisible by 2**{n_down} (one halving per filter stage)")


def build_encoder(image_size: int, latent_dim: int, filters=DEFAULT_FILTERS, num_classes: int = 0) -> keras.Model:
    """Strided convolutions -> dense -> ``(z_mean, z_log_var)``. With ``num_classes`` the one-hot
    label is a second input, concatenated to the image features before the dense layer."""
    _check_size(image_size, len(filters))
    image = keras.Input((image_size, image_size, 1), name="image")
    x = image
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, strides=2, padding="same", activation="relu", name=f"enc_conv{i}")(x)
    x = layers.Flatten(name="enc_flatten")(x)
    inputs = [image]
    if num_classes:
        label = keras.Input((num_classes,), name="label")
        inputs.append(label)
        x = layers.Concatenate(name="enc_with_label")([x, label])
    x = layers.Dense(256, activation="relu", name="enc_dense")(x)
    # The latent distribution is kept in float32 under a mixed policy: exp(log_var) overflows float16.
    z_mean = layers.Dense(latent_dim, dtype="float32", name="z_mean")(x)
    z_log_var = layers.Dense(latent_dim, dtype="float32", name="z_log_var")(x)
    return keras.Model(inputs if num_classes else image, [z_mean, z_log_var], name="encoder")


def build_decoder(image_size: int, latent_dim: int, filters=DEFAULT_FILTERS, num_classes: int = 0) -> keras.Model:
    """Dense -> reshape -> transposed convolutions mirroring the encoder, the last one to a sigmoid image."""
    _check_size(image_size, len(filters))
    side = image_size // 2 ** len(filters)
    z = keras.Input((latent_dim,), name="z")
    inputs = [z]
    x = z
    if num_classes:
        label = keras.Input((num_classes,), name="label")
        inputs.append(label)
        x = layers.Concatenate(name="dec_with_label")([z, label])
    x = layers.Dense(side * side * filters[-1], activation="relu", name="dec_dense")(x)
    x = layers.Reshape((side, side, filters[-1]), name="dec_reshape")(x)
    for i, f in enumerate(reversed(filters[:-1])):
        x = layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu", name=f"dec_deconv{i}")(x)
    image = layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid", dtype="float32",
                                   name="dec_image")(x)
    return keras.Model(inputs if num_classes else z, image, name="decoder")


@keras.saving.register_keras_serializable(package="brainmri")
class VAE(keras.Model):
    """Encoder + sampling + decoder with a custom ``train_step`` tracking total, reconstruction and
    KL losses. Conditional when the encoder takes a label (``num_classes > 0``): then the training
    data are ``(image, one_hot_label)`` pairs, otherwise images alone (a label is ignored)."""

    def __init__(self, encoder: keras.Model, decoder: keras.Model, *, beta: float = 1.0,
                 kl_warmup_steps: int = 0, reconstruction: str = "bce", ssim_weight: float = 0.0,
                 seed: int = config.SEED, **kwargs):
        super().__init__(**kwargs)
        if reconstruction not in RECONSTRUCTION_LOSSES:
            raise ValueError(f"reconstruction must be one of {RECONSTRUCTION_LOSSES}, got {reconstruction!r}")
        self.encoder, self.decoder = encoder, decoder
        self.beta, self.kl_warmup_steps = float(beta), int(kl_warmup_steps)
        self.reconstruction, self.ssim_weight, self.seed = reconstruction, float(ssim_weight), seed
        self.sampling = Sampling(seed=seed, dtype="float32", name="sampling")
        self.trackers = {name: keras.metrics.Mean(name=name)
                         for name in ("loss", "reconstruction_loss", "kl_loss", "kl_weight")}
        self.build()

    def build(self, input_shape=None):
        """Encoder and decoder are functional models, built at construction."""
        self.built = True

    @property
    def num_classes(self) -> int:
        return self.encoder.inputs[1].shape[-1] if len(self.encoder.inputs) > 1 else 0

    @property
    def latent_dim(self) -> int:
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
        """``(z_mean, z_log_var)``; ``label`` (one-hot) only for the conditional VAE."""
        return self.encoder(self._inputs(x, label), training=training)

    def decode(self, z, label=None, training=False):
        """Images in ``[0, 1]``; ``label`` (one-hot, or any mixture of classes) only when conditional."""
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

    def compute_losses(self, x, label=None, training=False):
        """``(total, reconstruction, kl)`` batch means for one sampled pass."""
        z_mean, z_log_var = self.encode(x, label, training=training)
        z = self.sampling([z_mean, z_log_var])
        x_hat = self.decode(z, label, training=training)
        recon = tf.reduce_mean(reconstruction_loss(x, x_hat, self.reconstruction, self.ssim_weight))
        kl = tf.reduce_mean(kl_divergence(z_mean, z_log_var))
        return recon + self.kl_weight() * kl, recon, kl

    def _update(self, total, recon, kl):
        values = {"loss": total, "reconstruction_loss": recon, "kl_loss": kl, "kl_weight": self.kl_weight()}
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
              beta: float = 1.0, kl_warmup_steps: int = 0, reconstruction: str = "bce",
              ssim_weight: float = 0.0, learning_rate: float = 1e-3, seed: int = config.SEED) -> VAE:
    """A compiled (conditional when ``num_classes``) VAE."""
    keras.utils.set_random_seed(seed)
    vae = VAE(build_encoder(image_size, latent_dim, filters, num_classes),
              build_decoder(image_size, latent_dim, filters, num_classes),
              beta=beta, kl_warmup_steps=kl_warmup_steps, reconstruction=reconstruction,
              ssim_weight=ssim_weight, seed=seed, name="cvae" if num_classes else "vae")
    vae.compile(optimizer=keras.optimizers.Adam(learning_rate))
    return vae


# ---------------------------------------------------------------- data bridging and evaluation

def to_unit_grayscale(images: np.ndarray, image_size: int | None = None) -> np.ndarray:
    """``uint8 (N, S, S, C)`` -> grayscale ``float32 (N, size, size, 1)`` in ``[0, 1]`` (the VAE's input)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] not in (1, 3):
        raise ValueError(f"expected images shaped (N, S, S, 1|3), got {images.shape}")
    x = images.astype(np.float32)
    if images.dtype == np.uint8:
        x /= 255.0
    elif x.min() < 0 or x.max() > 1:
        raise ValueError(f"non-uint8 images must be in [0, 1], got range [{x.min():.3g}, {x.max():.3g}]")
    if x.shape[-1] == 3:
        x = x @ np.array([0.299, 0.587, 0.114], np.float32)[:, None]
    if image_size and x.shape[1] != image_size:
        x = tf.image.resize(x, (image_size, image_size), antialias=True).numpy().clip(0, 1)
    return x


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim == 2:
        return labels.astype(np.float32)
    return np.eye(num_classes, dtype=np.float32)[labels.astype(int)]


def make_vae_dataset(x: np.ndarray, labels: np.ndarray | None = None, *, batch_size: int = 32,
                     shuffle: bool = True, seed: int = config.SEED) -> tf.data.Dataset:
    """Batches of images (or ``(image, one_hot_label)`` pairs) for ``VAE.fit``."""
    ds = tf.data.Dataset.from_tensor_slices(x if labels is None else (x, labels))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def reconstruct(vae: VAE, x: np.ndarray, labels: np.ndarray | None = None, batch_size: int = 64) -> np.ndarray:
    """Deterministic reconstructions (through the latent mean); labels only for the conditional VAE."""
    labels = one_hot(labels, vae.num_classes) if vae.num_classes else None
    parts = []
    for i in range(0, len(x), batch_size):
        label = None if labels is None else labels[i:i + batch_size]
        z_mean, _ = vae.encode(x[i:i + batch_size], label)
        parts.append(keras.ops.convert_to_numpy(vae.decode(z_mean, label)))
    return np.concatenate(parts)


def ssim_per_image(x: np.ndarray, x_hat: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """SSIM of each pair of ``[0, 1]`` images."""
    if x.shape != x_hat.shape:
        raise ValueError(f"shapes differ: {x.shape} vs {x_hat.shape}")
    return np.concatenate([
        tf.image.ssim(tf.constant(x[i:i + batch_size]), tf.constant(x_hat[i:i + batch_size]), max_val=1.0).numpy()
        for i in range(0, len(x), batch_size)
    ])


@dataclass
class PCABaseline:
    """Linear autoencoder with the VAE's latent size: the bar the VAE must clear on SSIM."""
    pca: PCA
    image_shape: tuple[int, int, int]

    @classmethod
    def fit(cls, x: np.ndarray, latent_dim: int, seed: int = config.SEED) -> "PCABaseline":
        pca = PCA(n_components=latent_dim, svd_solver="randomized", random_state=seed)
        pca.fit(x.reshape(len(x), -1))
        return cls(pca, tuple(x.shape[1:]))

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.pca.transform(x.reshape(len(x), -1)).astype(np.float32)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.pca.inverse_transform(z).reshape(len(z), *self.image_shape).clip(0, 1).astype(np.float32)

    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        return self.decode(self.encode(x))
