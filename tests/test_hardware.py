"""strategy(), the precision switch and model_scope(): what a Colab GPU or TPU runtime gets, simulated on the CPU."""

import keras
import pytest
import tensorflow as tf

from brainmri import hardware


@pytest.fixture
def fresh_strategy():
    """strategy() is cached per process; each test here starts and ends without a cached one."""
    hardware.strategy.cache_clear()
    yield
    hardware.strategy.cache_clear()


def test_strategy_on_this_machine_is_the_default_one_and_made_once(fresh_strategy, monkeypatch):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    first = hardware.strategy()
    assert first.num_replicas_in_sync == 1
    assert hardware.strategy() is first


def test_default_precision_is_float16_on_a_gpu_and_float32_here(fresh_strategy, monkeypatch):
    monkeypatch.delenv("BRAINMRI_PRECISION", raising=False)
    assert hardware.precision() == "float32"
    monkeypatch.setattr(tf.config, "list_logical_devices", lambda kind=None: ["/GPU:0"] if kind == "GPU" else [])
    assert hardware.precision() == "mixed_float16"


def test_default_precision_is_bfloat16_on_a_tpu(monkeypatch):
    monkeypatch.delenv("BRAINMRI_PRECISION", raising=False)
    monkeypatch.setattr(hardware, "strategy", lambda: object.__new__(tf.distribute.TPUStrategy))
    assert hardware.precision() == "mixed_bfloat16"


def test_precision_switch_overrides_the_device_and_rejects_unknown_names(monkeypatch):
    for name in hardware.PRECISIONS:
        monkeypatch.setenv("BRAINMRI_PRECISION", name)
        assert hardware.precision() == name
    monkeypatch.setenv("BRAINMRI_PRECISION", "float16")
    with pytest.raises(ValueError, match=r"BRAINMRI_PRECISION='float16'.*mixed_float16"):
        hardware.precision()


def test_a_tpu_that_cannot_be_reached_is_said_in_one_line(fresh_strategy, monkeypatch, capsys):
    monkeypatch.setenv("TPU_NAME", "no-such-tpu")

    def unreachable(*args, **kwargs):
        raise ValueError("could not find TPU no-such-tpu")

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", unreachable)
    assert hardware.strategy().num_replicas_in_sync == 1
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "TPU runtime was requested" in lines[0] and "no-such-tpu" in lines[0]


def test_a_gpu_tensorflow_cannot_see_is_said_in_one_line(fresh_strategy, monkeypatch, capsys):
    monkeypatch.delenv("TPU_NAME", raising=False)
    monkeypatch.delenv("COLAB_TPU_ADDR", raising=False)
    monkeypatch.setenv("COLAB_GPU", "1")
    hardware.strategy()
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "has a GPU but TensorFlow sees none" in lines[0]


def test_model_scope_sets_the_policy_for_the_model_and_restores_the_previous_one():
    before = keras.mixed_precision.global_policy().name
    with hardware.model_scope("mixed_float16"):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="dense")])
    assert model.get_layer("dense").dtype_policy.name == "mixed_float16"
    assert keras.mixed_precision.global_policy().name == before
    with pytest.raises(RuntimeError), hardware.model_scope("mixed_bfloat16"):
        raise RuntimeError("a failed build")
    assert keras.mixed_precision.global_policy().name == before


def test_xla_switch_reaches_compiled_and_loaded_models_and_rejects_unknown_values(monkeypatch, tmp_path):
    from brainmri.models.loading import load_classifier
    from brainmri.models.unet import build_unet, compile_unet

    monkeypatch.delenv(hardware.XLA_ENV, raising=False)
    assert hardware.jit_compile() == "auto"
    unet = compile_unet(build_unet((16, 16, 1), base_filters=4, depth=1))
    assert unet.jit_compile is False  # Keras's "auto" on a CPU-only machine
    unet.save(tmp_path / "unet.keras")
    monkeypatch.setenv(hardware.XLA_ENV, "on")
    assert compile_unet(build_unet((16, 16, 1), base_filters=4, depth=1)).jit_compile is True
    assert load_classifier(tmp_path / "unet.keras").jit_compile is True  # saved under "auto", loaded under "on"
    monkeypatch.setenv(hardware.XLA_ENV, "off")
    assert hardware.jit_compile() is False
    monkeypatch.setenv(hardware.XLA_ENV, "maybe")
    with pytest.raises(ValueError, match="BRAINMRI_XLA='maybe' is not an XLA setting"):
        hardware.jit_compile()
