"""Transfer classifiers: structure, preprocessing, freezing, BatchNorm in inference mode, weights fallback, .keras round trip.

The fine-tuning protocol built on them is tested in test_finetune.py."""

import socket
import subprocess
import sys

import keras
import numpy as np
import pytest

from brainmri.models import ARCHITECTURES, build_model, transfer

SIZE = 32
HEAD_2048 = 2 * 2048 + 2048 * 4 + 4  # layer norm (scale, offset) + dense, four classes


@pytest.fixture(scope="module")
def resnet():
    return build_model("resnet50", input_shape=(SIZE, SIZE, 1), num_classes=4, weights=None, dropout=0.0)


@pytest.fixture(scope="module")
def efficientnet():
    return build_model("efficientnetb0", input_shape=(SIZE, SIZE, 3), num_classes=2, weights=None)


def scans(n=4, channels=1, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, channels)).astype("float32")


def test_registered_in_the_model_registry():
    assert {"resnet50", "efficientnetb0"} <= set(ARCHITECTURES)


def test_resnet50_structure_and_frozen_backbone(resnet):
    names = [layer.name for layer in resnet.layers]
    assert names == ["image", "to_rgb", "imagenet_preprocess", "backbone", "gap", "head_norm", "dropout", "predictions"]
    assert resnet.name == "resnet50_random" and not transfer.is_pretrained(resnet)
    assert resnet.output_shape == (None, 4)
    assert transfer.parameter_counts(resnet)["trainable"] == HEAD_2048  # the head only


def test_efficientnet_rgb_binary_structure(efficientnet):
    names = [layer.name for layer in efficientnet.layers]
    assert names == ["image", "backbone", "gap", "head_norm", "dropout", "predictions"]  # rgb input, own preprocessing
    assert efficientnet.output_shape == (None, 1)
    assert efficientnet.get_layer("predictions").activation.__name__ == "sigmoid"
    assert transfer.arch_of(efficientnet) == "efficientnetb0"


def test_head_sees_unit_scale_features_even_from_a_random_backbone(efficientnet):
    x = scans(2, channels=3)
    pooled = keras.Model(efficientnet.inputs, efficientnet.get_layer("gap").output)(x)
    normed = keras.Model(efficientnet.inputs, efficientnet.get_layer("head_norm").output)(x)
    assert float(keras.ops.max(keras.ops.abs(pooled))) < 1e-3  # random EfficientNetB0: vanishing features
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.std(normed, axis=-1)), 1.0, rtol=1e-2)


def test_grayscale_is_tiled_and_caffe_preprocessing_matches_keras():
    gray = scans(2)
    rgb = transfer.GrayscaleToRGB()(gray)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(rgb), np.repeat(gray, 3, axis=-1))
    colour = scans(2, channels=3, seed=1)
    ours = keras.ops.convert_to_numpy(transfer.CaffePreprocess()(colour))
    reference = keras.applications.resnet50.preprocess_input(colour.copy())
    np.testing.assert_allclose(ours, reference, rtol=1e-6, atol=1e-4)


def test_unfreeze_last_stage_trains_conv5_but_no_batchnorm(resnet):
    try:
        unfrozen = transfer.unfreeze_last_stage(resnet)
        assert unfrozen and all(name.startswith("conv5_") for name in unfrozen)
        backbone = transfer.get_backbone(resnet)
        for layer in backbone.layers:
            expected = layer.name.startswith("conv5_") and not isinstance(layer, keras.layers.BatchNormalization)
            assert layer.trainable == expected, layer.name
        conv5 = sum(np.prod(w.shape) for l in backbone.layers if l.name in unfrozen for w in l.trainable_weights)
        assert transfer.parameter_counts(resnet)["trainable"] == conv5 + HEAD_2048
    finally:
        transfer.freeze_backbone(resnet)
    assert transfer.parameter_counts(resnet)["trainable"] == HEAD_2048


def test_fine_tuning_step_leaves_batchnorm_statistics_and_earlier_stages_alone(resnet):
    model = keras.models.clone_model(resnet)
    model.set_weights(resnet.get_weights())
    transfer.unfreeze_last_stage(model)
    backbone = transfer.get_backbone(model)
    watched = {name: backbone.get_layer(name).get_weights()[0].copy()
               for name in ("conv5_block3_3_conv", "conv4_block6_3_conv", "conv5_block3_3_bn")}
    moving_mean = backbone.get_layer("conv5_block3_3_bn").moving_mean.numpy().copy()
    x = scans(4)
    # dropout is 0, so with BatchNorm in inference mode training=True changes nothing
    np.testing.assert_allclose(model(x, training=True), model(x, training=False), rtol=1e-5, atol=1e-6)
    model.compile(keras.optimizers.SGD(0.1), "categorical_crossentropy")
    model.train_on_batch(x, np.eye(4, dtype="float32"))
    assert not np.allclose(backbone.get_layer("conv5_block3_3_conv").get_weights()[0], watched["conv5_block3_3_conv"])
    np.testing.assert_array_equal(backbone.get_layer("conv4_block6_3_conv").get_weights()[0], watched["conv4_block6_3_conv"])
    np.testing.assert_array_equal(backbone.get_layer("conv5_block3_3_bn").get_weights()[0], watched["conv5_block3_3_bn"])
    np.testing.assert_array_equal(backbone.get_layer("conv5_block3_3_bn").moving_mean.numpy(), moving_mean)


def test_trainable_report_groups_by_stage_and_adds_up(efficientnet):
    try:
        transfer.unfreeze_last_stage(efficientnet)
        rows = {row["group"]: row for row in transfer.trainable_report(efficientnet)}
        assert sum(row["params"] for row in rows.values()) == efficientnet.count_params()
        assert sum(row["trainable_params"] for row in rows.values()) == transfer.parameter_counts(efficientnet)["trainable"]
        for stage in ("block6", "block7", "top"):
            assert rows[f"backbone/{stage}"]["trainable_layers"] > 0
        for stage in ("stem", "block1", "block5"):
            assert rows[f"backbone/{stage}"]["trainable_params"] == 0
        assert rows["predictions"]["trainable_params"] == 1280 + 1
        assert rows["head_norm"]["trainable_params"] == 2 * 1280
    finally:
        transfer.freeze_backbone(efficientnet)


def test_keras_round_trip_keeps_predictions_trainability_and_name(resnet, tmp_path):
    model = keras.models.clone_model(resnet)
    model.set_weights(resnet.get_weights())
    transfer.unfreeze_last_stage(model)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # no custom_objects
    x = scans(3)
    np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-6)
    assert loaded.name == "resnet50_random"
    assert transfer.parameter_counts(loaded) == transfer.parameter_counts(model)


def test_saved_model_loads_in_a_fresh_interpreter_through_the_package_loader(resnet, tmp_path):
    path = tmp_path / "model.keras"
    resnet.save(path)
    code = f"from brainmri.models.loading import load_classifier; print(load_classifier({str(path)!r}).name)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "resnet50_random"


def test_loader_names_a_missing_or_damaged_model_file(tmp_path):
    from brainmri.models.loading import load_classifier

    with pytest.raises(FileNotFoundError, match=r"model file .*absent\.keras does not exist"):
        load_classifier(tmp_path / "absent.keras")
    damaged = tmp_path / "damaged.keras"
    damaged.write_bytes(b"not a zip archive")
    with pytest.raises(ValueError, match=r"cannot load model file .*damaged\.keras"):
        load_classifier(damaged)


def _fake_application(failure):
    """A stand-in application: ``weights="imagenet"`` raises ``failure``; anything else builds the real one."""
    def application(*, weights, **kwargs):
        if weights == "imagenet":
            if failure is None:
                return keras.applications.EfficientNetB0(weights=None, **kwargs)
            raise failure
        return keras.applications.EfficientNetB0(weights=weights, **kwargs)
    return application


def _patch_application(monkeypatch, failure):
    spec = transfer.BACKBONES["efficientnetb0"]
    patched = transfer.Backbone(_fake_application(failure), spec.preprocessing, spec.last_stage)
    monkeypatch.setitem(transfer.BACKBONES, "efficientnetb0", patched)


def test_offline_falls_back_to_random_weights_with_one_line(monkeypatch, capsys):
    timeout_before = socket.getdefaulttimeout()
    _patch_application(monkeypatch, Exception(
        "URL fetch failure on https://example.invalid/b0_notop.h5: None -- [Errno -2] Name or service not known"))
    model = build_model("efficientnetb0", input_shape=(SIZE, SIZE, 1), num_classes=4)
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == ["efficientnetb0: ImageNet weights unavailable ([Errno -2] Name or service not known); "
                     "continuing with random initialisation"]
    assert model.name == "efficientnetb0_random" and not transfer.is_pretrained(model)
    assert socket.getdefaulttimeout() == timeout_before


def test_imagenet_weights_when_available_say_so(monkeypatch, capsys):
    _patch_application(monkeypatch, None)
    model = build_model("efficientnetb0", input_shape=(SIZE, SIZE, 1), num_classes=4)
    assert capsys.readouterr().out.strip().splitlines() == ["efficientnetb0: ImageNet weights loaded"]
    assert transfer.is_pretrained(model)


def test_invalid_arguments_are_not_mistaken_for_offline(monkeypatch):
    _patch_application(monkeypatch, ValueError("input_shape is wrong"))
    with pytest.raises(ValueError, match="input_shape is wrong"):
        build_model("efficientnetb0", input_shape=(SIZE, SIZE, 1), num_classes=4)


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="unknown backbone 'vgg99'"):
        transfer.transfer_classifier("vgg99", input_shape=(SIZE, SIZE, 1), num_classes=4, weights=None)
    with pytest.raises(ValueError, match="at least 32 pixels"):
        transfer.resnet50(input_shape=(16, 16, 1), num_classes=4, weights=None)
    with pytest.raises(ValueError, match="weights must be 'imagenet' or None"):
        transfer.resnet50(input_shape=(SIZE, SIZE, 1), num_classes=4, weights="weights.h5")
    with pytest.raises(ValueError, match="dropout"):
        transfer.resnet50(input_shape=(SIZE, SIZE, 1), num_classes=4, weights=None, dropout=1.0)
    flat = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)], name="flat")
    with pytest.raises(ValueError, match="'flat' has no layer named 'backbone'"):
        transfer.get_backbone(flat)


def test_comparison_figures_show_each_model():
    import matplotlib.pyplot as plt

    from brainmri.plots.transfer import plot_metric_bars, plot_two_stage_curves

    history = {"loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "accuracy": [0.5, 0.6], "val_accuracy": [0.4, 0.5]}
    fig = plot_two_stage_curves({"frozen": history, "fine-tuned": history})
    assert fig.axes[0].lines[2].get_xdata().tolist() == [3, 4]  # the second stage follows the first
    fig = plot_metric_bars({"x": {"accuracy": 0.5, "f1": 0.25}, "y": {"accuracy": 1.0, "f1": 0.75}}, ("accuracy", "f1"))
    assert [round(p.get_height(), 2) for p in fig.axes[0].patches] == [0.5, 0.25, 1.0, 0.75]
    plt.close("all")


def test_trainable_summary_lists_stages_and_total(efficientnet):
    rows = transfer.trainable_summary(efficientnet)
    assert list(rows[0]) == ["group", "layers", "trainable_layers", "params", "trainable_params"]
    assert rows[-1]["group"] == "total" and rows[-1]["params"] == efficientnet.count_params()
    assert rows[-1]["trainable_params"] == transfer.parameter_counts(efficientnet)["trainable"]
    assert any(row["group"] == "backbone/block6" for row in rows)

