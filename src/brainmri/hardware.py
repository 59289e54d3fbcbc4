"""The accelerator and the numerics: one ``tf.distribute`` strategy per process and the dtype policy.

``BRAINMRI_PRECISION`` (``float32`` | ``mixed_float16`` | ``mixed_bfloat16``) chooses the dtype policy
that models are built with; unset, it is the device's default: ``mixed_float16`` on a GPU,
``mixed_bfloat16`` on a TPU, ``float32`` elsewhere. Setting it on a CPU runs a GPU's numerics here,
which is how the tests exercise the Colab GPU path without a GPU.

``BRAINMRI_XLA`` (``on`` | ``off``) decides whether Keras compiles the training and prediction steps
with XLA (:func:`jit_compile`); unset, Keras chooses: XLA on a GPU, not on a CPU. Setting it on a CPU
runs the compiled graphs a Colab GPU runs, which is how the tests exercise them here.

Build every model inside :func:`model_scope`: it enters the strategy's scope and sets the policy for
the layers created there, then restores the previous global policy, so a classifier built in mixed
precision does not turn the next model (a VAE, say) into one. Saved models keep their layers'
policies, so a model trained on a GPU loads and runs in mixed precision anywhere.
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
from pathlib import Path

import keras
import tensorflow as tf

PRECISION_ENV = "BRAINMRI_PRECISION"
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
XLA_ENV = "BRAINMRI_XLA"
XLA_SETTINGS = {"on": True, "off": False}


def tpu_requested() -> bool:
    """Whether this runtime offers a TPU (Colab's TPU runtimes, a named Cloud TPU, or a TPU VM device)."""
    return bool(os.environ.get("TPU_NAME") or os.environ.get("COLAB_TPU_ADDR")) or Path("/dev/accel0").exists()


def gpu_requested() -> bool:
    """Whether this runtime has an NVIDIA GPU, whether or not TensorFlow can use it."""
    return os.environ.get("COLAB_GPU", "0") not in ("", "0") or shutil.which("nvidia-smi") is not None


def _connect_tpu():
    """A ``TPUStrategy``, or None with one line saying why the TPU cannot be used."""
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=os.environ.get("TPU_NAME", "local"))
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as err:
        print(f"a TPU runtime was requested but TensorFlow cannot use it ({type(err).__name__}: {err}); "
              "running on the CPU")
        return None


@functools.cache
def strategy() -> tf.distribute.Strategy:
    """The strategy for this machine, made once per process: TPU, several GPUs (mirrored), else the default.

    Initialising a TPU system again would invalidate the variables created on it so far, hence the cache.
    Where the runtime has an accelerator that TensorFlow cannot see, one line says so.
    """
    if tpu_requested():
        tpu = _connect_tpu()
        if tpu is not None:
            return tpu
    gpus = tf.config.list_logical_devices("GPU")
    if not gpus and gpu_requested():
        print("this runtime has a GPU but TensorFlow sees none (check the CUDA libraries that came with "
              "tensorflow); training on the CPU will be slow")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


def default_precision() -> str:
    """The dtype policy the accelerator does best: bfloat16 on a TPU, float16 on a GPU, else float32."""
    if isinstance(strategy(), tf.distribute.TPUStrategy):
        return "mixed_bfloat16"
    if tf.config.list_logical_devices("GPU"):
        return "mixed_float16"
    return "float32"


def precision() -> str:
    """The dtype policy models are built with: ``BRAINMRI_PRECISION`` if set, else :func:`default_precision`."""
    value = os.environ.get(PRECISION_ENV, "").strip()
    if not value:
        return default_precision()
    if value not in PRECISIONS:
        raise ValueError(f"{PRECISION_ENV}={value!r} is not a precision; choose one of {list(PRECISIONS)}")
    return value


@contextlib.contextmanager
def dtype_policy(name: str):
    """Set the global Keras dtype policy for the layers created inside, and restore the previous one."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)


@contextlib.contextmanager
def model_scope(policy: str | None = None, distribute: tf.distribute.Strategy | None = None):
    """Build (and compile) models here: inside the strategy's scope, with ``policy`` (default :func:`precision`)."""
    distribute = distribute or strategy()
    with distribute.scope(), dtype_policy(policy or precision()):
        yield distribute


def jit_compile() -> bool | str:
    """``jit_compile`` for every ``Model.compile``: ``BRAINMRI_XLA`` as a bool, unset ``"auto"`` (Keras's choice)."""
    value = os.environ.get(XLA_ENV, "").strip().lower()
    if not value:
        return "auto"
    if value not in XLA_SETTINGS:
        raise ValueError(f"{XLA_ENV}={value!r} is not an XLA setting; choose one of {list(XLA_SETTINGS)}")
    return XLA_SETTINGS[value]


def apply_jit_compile(model: keras.Model) -> keras.Model:
    """A loaded model's steps follow ``BRAINMRI_XLA`` too (a saved model recompiles with Keras's ``"auto"``)."""
    setting = jit_compile()
    if setting != "auto":
        model.jit_compile = setting
    return model
