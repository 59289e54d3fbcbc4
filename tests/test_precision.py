"""Every model under every precision a runtime may use, and under XLA: the Colab GPU path run on the CPU.

``BRAINMRI_PRECISION`` selects the dtype policy that models are built with, so mixed_float16 (a
GPU) and mixed_bfloat16 (a TPU) numerics run here: float16/bfloat16 convolutions, float32 weights,
loss scaling for float16. Each model trains one step, saves, loads with its policy, predicts and,
for classifiers, is explained.
"""

import json
import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import QUADRANT_CLASSES, QUADRANT_SIZE, quadrant_data

from brainmri import hardware, train
from brainmri.evaluate import evaluate_model
from brainmri.explain.gradcam import CAM, GradCAM, GradCAMPlusPlus, SmoothGradCAMPlusPlus, block_outputs
from brainmri.models import build_model
from brainmri.models.introspection import feature_maps
from brainmri.models.loading import load_classifier
from brainmri.models.unet import build_unet, compile_unet
from brainmri.models.vae import build_vae

SIZE = QUADRANT_SIZE
CLASSES = QUADRANT_CLASSES
TINY = {"width": 8, "depth": 1, "se_ratio": 0.25, "dropout": 0.0}
# Mean absolute difference of [0, 1] heatmaps between a mixed-precision model and a float32 copy of
# its weights. Each activation carries a relative error of about 2**-11 (float16) or 2**-8
# (bfloat16), amplified where the ReLU of a weighted sum sits near zero. Measured at every block of
# the committed 128 px real-data classifier: at most 0.003 (float16) and 0.006 (bfloat16); on this
# test's two-epoch model at most 0.022 (float16, stage 2), the same with gradients computed at a
# loss scale of 2**10, so the difference comes from the forward pass, not from gradient underflow.
HEATMAP_TOLERANCE = 0.03


def tiny_data():
    return quadrant_data(n_train=16, n_val=8)


def tiny_recipe(arch="residual_cnn", **changes):
    fields = dict(arch=arch, arch_kwargs=TINY if arch == "residual_cnn" else {}, image_size=SIZE, epochs=1,
                  batch_size=8, augment=False, recalibrate_bn=False)
    return train.Recipe(**{**fields, **changes})


pytestmark = pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer:UserWarning")


@pytest.fixture(params=hardware.PRECISIONS)
def policy(request, monkeypatch):
    monkeypatch.setenv("BRAINMRI_PRECISION", request.param)
    yield request.param
    assert keras.mixed_precision.global_policy().name == "float32", "a model build leaked its dtype policy"


def assert_policy(model, policy):
    """Every hidden convolution computes in ``policy``; output layers are kept in float32 on purpose."""
    outputs = {id(tensor) for tensor in model.outputs}
    convolutions = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Conv2D)
                    and id(layer.output) not in outputs]
    assert convolutions and all(layer.dtype_policy.name == policy for layer in convolutions)


def save_and_load(model, tmp_path, load=keras.saving.load_model):
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    return load(path)


def test_classifier_trains_saves_loads_evaluates_and_is_explained(policy, tmp_path):
    data, recipe = tiny_data(), tiny_recipe()
    model = train.build_classifier(recipe, len(CLASSES))
    summary = train.fit(model, data, recipe, verbose=0)
    assert np.isfinite(summary["history"]["loss"][0])
    if policy == "mixed_float16":
        assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    loaded = save_and_load(model, tmp_path, load_classifier)
    assert_policy(loaded, policy)
    assert loaded.get_layer("predictions").compute_dtype == "float32"
    scores = evaluate_model(loaded, data.x_val, data.y_val, CLASSES)
    assert 0 <= scores["accuracy"] <= 1
    maps = feature_maps(loaded, data.x_val[0])  # what matplotlib draws: it cannot take bfloat16
    assert maps and all(block.dtype == np.float32 for block in maps.values())
    images = data.x_val[:4].astype(np.float32)
    for explainer in (GradCAM(loaded), GradCAMPlusPlus(loaded, layer="stage1_block1_out"), CAM(loaded),
                      SmoothGradCAMPlusPlus(loaded, samples=2)):
        explanation = explainer.explain(images)
        assert explanation.heatmaps.dtype == np.float32 and np.isfinite(explanation.heatmaps).all()
        assert explanation.heatmaps.min() >= 0 and explanation.heatmaps.max() <= 1
        assert ((0 <= explanation.probability) & (explanation.probability <= 1)).all()


@pytest.fixture(params=["mixed_float16", "mixed_bfloat16"])
def mixed_policy(request, monkeypatch):
    """The transfer model in float32 is tested by test_transfer.py; here only what a GPU or TPU adds."""
    monkeypatch.setenv("BRAINMRI_PRECISION", request.param)
    yield request.param
    assert keras.mixed_precision.global_policy().name == "float32", "a model build leaked its dtype policy"


def test_transfer_model_trains_saves_loads_and_is_explained_through_its_backbone(mixed_policy, tmp_path):
    data, recipe = tiny_data(), tiny_recipe("efficientnetb0")
    with hardware.model_scope():
        model = build_model("efficientnetb0", input_shape=(SIZE, SIZE, 1), num_classes=4, weights=None)
    summary = train.fit(model, data, recipe, verbose=0)
    assert np.isfinite(summary["history"]["loss"][0])
    loaded = save_and_load(model, tmp_path, load_classifier)
    assert_policy(loaded, mixed_policy)
    explanation = GradCAM(loaded).explain(data.x_val[:2].astype(np.float32))
    assert "/" in explanation.layer and np.isfinite(explanation.heatmaps).all()


def test_unet_trains_saves_and_loads(policy, tmp_path):
    x = np.random.default_rng(0).uniform(0, 255, (8, SIZE, SIZE, 1)).astype(np.float32)
    masks = (x > 128).astype(np.float32)
    with hardware.model_scope():
        unet = compile_unet(build_unet((SIZE, SIZE, 1), base_filters=4, depth=2))
    history = unet.fit(x, masks, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    loaded = save_and_load(unet, tmp_path)
    assert_policy(loaded, policy)
    probabilities = np.asarray(loaded.predict(x, verbose=0))
    assert probabilities.dtype == np.float32 and ((0 <= probabilities) & (probabilities <= 1)).all()


@pytest.mark.parametrize("num_classes", [0, 4], ids=["vae", "conditional_vae"])
def test_vae_trains_with_loss_scaling_saves_and_loads(policy, num_classes, tmp_path):
    x = np.random.default_rng(0).uniform(0, 1, (8, SIZE, SIZE, 1)).astype(np.float32)
    labels = np.eye(4, dtype=np.float32)[np.arange(8) % 4]
    with hardware.model_scope():
        vae = build_vae(SIZE, 4, num_classes=num_classes, filters=(8, 16))
    batches = tf.data.Dataset.from_tensor_slices((x, labels) if num_classes else x).batch(4)
    history = vae.fit(batches, epochs=1, verbose=0)
    assert all(np.isfinite(values[0]) for values in history.history.values())
    assert isinstance(vae.optimizer, keras.optimizers.LossScaleOptimizer) == (policy == "mixed_float16")
    loaded = save_and_load(vae, tmp_path)
    assert_policy(loaded.encoder, policy)
    z_mean, z_log_var = loaded.encode(x, labels if num_classes else None)
    assert z_mean.dtype == tf.float32 and z_log_var.dtype == tf.float32
    decoded = np.asarray(loaded.decode(z_mean, labels if num_classes else None))
    assert decoded.dtype == np.float32 and np.isfinite(decoded).all()


def test_float16_vae_scales_its_loss_and_keeps_learning_after_overflowing_steps(monkeypatch):
    """At a loss scale of 2**30 the scaled gradients overflow float16, which only happens if train_step
    scales the loss; the optimizer then skips those steps and lowers the scale, and the VAE learns."""
    monkeypatch.setenv("BRAINMRI_PRECISION", "mixed_float16")
    x = np.random.default_rng(0).uniform(0, 1, (32, SIZE, SIZE, 1)).astype(np.float32)
    with hardware.model_scope():
        vae = build_vae(SIZE, 4, filters=(8, 16))
        vae.compile(optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(3e-3), initial_scale=2.0**30))
    history = vae.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=6, verbose=0)
    assert float(vae.optimizer.dynamic_scale) < 2.0**30
    assert history.history["reconstruction_loss"][-1] < history.history["reconstruction_loss"][0]


@pytest.fixture(scope="module")
def float32_classifier():
    """A classifier trained in float32 for a few steps, so its maps are not those of random weights."""
    data, recipe = tiny_data(), tiny_recipe(epochs=2)
    model = train.build_classifier(recipe, 4)
    train.fit(model, data, recipe, verbose=0)
    return model, data.x_val.astype(np.float32)


@pytest.mark.parametrize("policy_name", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_heatmaps_match_a_float32_copy_of_the_same_weights(policy_name, float32_classifier):
    reference, images = float32_classifier
    with hardware.model_scope(policy_name):
        mixed = build_model("residual_cnn", input_shape=(SIZE, SIZE, 1), num_classes=4, **TINY)
    mixed.set_weights(reference.get_weights())
    classes = np.arange(len(images)) % 4
    for method in (GradCAM, GradCAMPlusPlus):
        for layer in block_outputs(reference)[:3]:  # the last block is 1x1 at 32 px: no map to compare
            expected = method(reference, layer=layer).explain(images, classes).heatmaps
            assert expected.max() > 0, f"{method.name} at {layer}: flat maps would make this test vacuous"
            difference = np.abs(method(mixed, layer=layer).explain(images, classes).heatmaps - expected).mean()
            assert difference <= HEATMAP_TOLERANCE, (method.name, layer, difference)


def test_models_fit_compiled_with_xla_in_mixed_float16(monkeypatch):
    """What a single GPU runs: Keras compiles with XLA there by default (jit_compile="auto"); here
    ``BRAINMRI_XLA=on`` asks for it."""
    monkeypatch.setenv("BRAINMRI_PRECISION", "mixed_float16")
    monkeypatch.setenv(hardware.XLA_ENV, "on")
    data, recipe = tiny_data(), tiny_recipe()
    classifier = train.build_classifier(recipe, 4)
    train.compile_classifier(classifier, recipe, steps_per_epoch=2)
    images = data.x_train.astype(np.float32)
    with hardware.model_scope():
        vae = build_vae(SIZE, 4, filters=(8, 16))
        unet = compile_unet(build_unet((SIZE, SIZE, 1), base_filters=4, depth=2))
    assert classifier.jit_compile and vae.jit_compile and unet.jit_compile
    fits = [classifier.fit(images, np.eye(4)[data.y_train], batch_size=8, epochs=1, verbose=0),
            vae.fit(images / 255.0, batch_size=8, epochs=1, verbose=0),
            unet.fit(images, (images > 100).astype(np.float32), batch_size=8, epochs=1, verbose=0)]
    assert all(np.isfinite(fit.history["loss"][0]) for fit in fits)


MIRRORED_VAE_STEP = textwrap.dedent("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import json
    import keras
    import numpy as np
    from brainmri import hardware
    from brainmri.models.vae import Sampling, build_vae

    Sampling.call = lambda self, inputs: inputs[0]  # no noise: each replica would draw its own
    x = np.random.default_rng(0).uniform(0, 1, (8, 32, 32, 1)).astype("float32")
    weights = None

    def one_step(distribute):
        global weights
        with hardware.model_scope("float32", distribute):
            vae = build_vae(32, 4, filters=(8, 16))
            vae.compile(optimizer=keras.optimizers.SGD(1e-4))
        weights = weights or vae.get_weights()
        vae.set_weights(weights)
        history = vae.fit(tf.data.Dataset.from_tensor_slices(x).batch(8), epochs=1, verbose=0)
        steps = [(after - before).ravel() for after, before in zip(vae.get_weights(), weights)]
        return history.history["loss"][0], np.concatenate(steps)

    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    (loss_one, step_one), (loss_two, step_two) = one_step(tf.distribute.get_strategy()), one_step(mirrored)
    print(json.dumps({"replicas": mirrored.num_replicas_in_sync, "loss": [loss_one, loss_two],
                      "step_ratio": float(np.linalg.norm(step_two) / np.linalg.norm(step_one)),
                      "step_error": float(np.abs(step_two - step_one).max() / np.abs(step_one).max())}))
""")


def test_vae_step_on_two_replicas_equals_one_device():
    """The VAE's own train_step divides the loss by the replicas, whose gradients are summed.

    A fresh interpreter, because logical devices must be set before TensorFlow initialises. SGD,
    because Adam's first step hardly depends on the gradient's scale and would hide a factor of 2.
    """
    done = subprocess.run([sys.executable, "-c", MIRRORED_VAE_STEP], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert result["loss"][1] == pytest.approx(result["loss"][0], rel=1e-4)
    assert result["step_ratio"] == pytest.approx(1.0, abs=1e-3) and result["step_error"] < 1e-3


def test_cli_trains_in_mixed_float16_and_evaluate_scores_the_model(tmp_path, capsys):
    """``BRAINMRI_PRECISION=mixed_float16 python -m brainmri train``: the saved layers carry the policy."""
    from brainmri.cli import main
    from brainmri.data.phantom import ensure_phantom

    phantom = ensure_phantom(tmp_path / "phantom", per_class=8, image_size=32)
    run_dir = tmp_path / "run"
    env = {**os.environ, "BRAINMRI_PRECISION": "mixed_float16", "BRAINMRI_PROFILE": "smoke", "TF_CPP_MIN_LOG_LEVEL": "2"}
    done = subprocess.run([sys.executable, "-m", "brainmri", "train", "--data", str(phantom), "--image-size", "32",
                           "--epochs", "1", "--batch-size", "8", "--out", str(run_dir)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((run_dir / "config.json").read_text())["precision"] == "mixed_float16"
    assert_policy(load_classifier(run_dir / "model.keras"), "mixed_float16")
    capsys.readouterr()
    assert main(["evaluate", "--model", str(run_dir / "model.keras"), "--data", str(phantom), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 <= report["accuracy"] <= 1 and report["n"] > 0
