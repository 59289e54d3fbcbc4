"""The VAE's SSIM loss term: ``tf.image.ssim`` against the separable blur of ``models.vae.local_ssim``.

Both compute the per-image SSIM of a default-profile training batch (32 one-channel 128 px images)
and its gradient with respect to the reconstruction, inside one ``tf.function`` each, after one
warm-up call; the best of three repeats of 20 steps is recorded, with the largest difference between
the two gradients. The images are random: the cost does not depend on their content.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from brainmri import config
from brainmri.benchmarking import best_of, write_benchmark
from brainmri.models.vae import local_ssim

BATCH, SIZE, STEPS, REPEATS = 32, 128, 20, 3


def gradient_step(ssim_of):
    """A compiled step: the summed ``1 - SSIM`` of a batch and its gradient with respect to ``x_hat``."""
    @tf.function
    def step(x, x_hat):
        with tf.GradientTape() as tape:
            tape.watch(x_hat)
            loss = tf.reduce_sum(1.0 - ssim_of(x, x_hat))
        return tape.gradient(loss, x_hat)
    return step


def best_seconds(step, x, x_hat) -> float:
    step(x, x_hat)  # trace and warm up
    seconds, _ = best_of(REPEATS, lambda: [step(x, x_hat) for _ in range(STEPS)])
    return seconds


def main() -> None:
    rng = np.random.default_rng(config.SEED)
    x, x_hat = (tf.constant(rng.random((BATCH, SIZE, SIZE, 1)), tf.float32) for _ in range(2))
    steps = {
        "tf_image_ssim": gradient_step(lambda a, b: tf.image.ssim(a, b, max_val=1.0)),
        "separable_blur": gradient_step(lambda a, b: tf.reduce_mean(local_ssim(a, b), axis=[1, 2, 3])),
    }
    seconds = {name: best_seconds(step, x, x_hat) for name, step in steps.items()}
    gap = float(tf.reduce_max(tf.abs(steps["tf_image_ssim"](x, x_hat) - steps["separable_blur"](x, x_hat))))
    write_benchmark("ssim_loss", baseline="tf_image_ssim", candidate="separable_blur", seconds=seconds,
                    extra={"batch": BATCH, "image_size": SIZE, "steps": STEPS, "max_gradient_difference": gap})


if __name__ == "__main__":
    main()
