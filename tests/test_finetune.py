"""The two-stage fine-tuning protocol: its recipe, what each stage trains, and how results are reported."""

import dataclasses

import keras
import numpy as np
import pytest

from brainmri import config, finetune
from brainmri.models import build_model, transfer

SIZE = 32


def _tiny_application(*, include_top, weights, input_shape, name):
    """A two-stage stand-in for ResNet50 (``conv4_``, ``conv5_``), so that the protocol trains in seconds."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Conv2D(4, 3, strides=2, name="conv4_block1_conv")(inputs)
    x = keras.layers.BatchNormalization(name="conv4_block1_bn")(x)
    x = keras.layers.Conv2D(8, 3, strides=2, name="conv5_block1_conv")(x)
    x = keras.layers.BatchNormalization(name="conv5_block1_bn")(x)
    return keras.Model(inputs, keras.layers.ReLU(name="conv5_out")(x), name=name)


@pytest.fixture()
def tiny_resnet(monkeypatch):
    monkeypatch.setitem(transfer.BACKBONES, "resnet50", transfer.Backbone(_tiny_application, None, ("conv5_",)))

    def build(num_classes):
        return build_model("resnet50", input_shape=(SIZE, SIZE, 1), num_classes=num_classes, weights=None)
    return build


def test_recipe_is_frozen_validated_and_sized_by_the_profile():
    recipe = finetune.FineTuneRecipe.from_profile(config.get_profile("smoke"))
    assert recipe.epochs == config.get_profile("smoke").transfer_epochs
    assert recipe.batch_size == config.get_profile("smoke").batch_size
    with pytest.raises(dataclasses.FrozenInstanceError):
        recipe.epochs = 5
    with pytest.raises(ValueError, match="epochs and batch_size must be positive"):
        finetune.FineTuneRecipe(epochs=0)
    with pytest.raises(ValueError, match="learning rates must be positive"):
        finetune.FineTuneRecipe(finetune_lr=0.0)
    assert recipe.to_dict()["head_lr"] == recipe.head_lr


def test_stage_recipe_takes_the_stage_learning_rate_and_skips_batchnorm_reestimation(tiny_resnet):
    model = tiny_resnet(4)
    recipe = finetune.FineTuneRecipe(epochs=2, head_lr=1e-2, finetune_lr=1e-3, batch_size=4, seed=7)
    frozen, tuned = (finetune.stage_recipe(model, recipe, stage) for stage in finetune.STAGES)
    assert (frozen.learning_rate, tuned.learning_rate) == (1e-2, 1e-3)
    for stage in (frozen, tuned):
        assert stage.recalibrate_bn is False and stage.warmup_epochs == 0
        assert (stage.arch, stage.task, stage.image_size, stage.color) == ("resnet50", "multiclass", SIZE, "grayscale")
        assert (stage.epochs, stage.batch_size, stage.seed) == (2, 4, 7)
    assert finetune.stage_recipe(tiny_resnet(2), recipe, "frozen").task == "binary"


def test_two_stage_fit_trains_head_then_last_stage(tiny_resnet, tmp_path):
    from brainmri.data import load_dataset, resolve_data_root

    data = load_dataset(resolve_data_root(None), image_size=SIZE, max_per_class=4, val_fraction=0.25)
    k = len(data.class_names)
    model = tiny_resnet(k)
    backbone = transfer.get_backbone(model)
    before = {layer.name: [w.copy() for w in layer.get_weights()] for layer in backbone.layers if layer.weights}
    stages = finetune.two_stage_fit(model, data, finetune.FineTuneRecipe(epochs=2, batch_size=8), run_dir=tmp_path, verbose=0)

    assert list(stages) == ["frozen", "fine_tuned"]
    frozen, tuned = stages["frozen"], stages["fine_tuned"]
    head = 2 * 8 + 8 * k + k  # layer norm + dense
    assert frozen.parameters["trainable"] == head
    assert tuned.parameters["trainable"] == head + 3 * 3 * 4 * 8 + 8  # + conv5 kernel and bias
    assert len(frozen.history["val_loss"]) == len(tuned.epoch_seconds) == 2 and tuned.seconds_per_epoch > 0
    assert frozen.scores["n"] == tuned.scores["n"] == len(data.x_val)
    table = finetune.stage_table(stages)
    assert table["fine_tuned"]["trainable_params"] == tuned.parameters["trainable"]
    assert table["frozen"]["accuracy"] == frozen.scores["accuracy"]
    after = {layer.name: layer.get_weights() for layer in backbone.layers if layer.weights}
    assert not np.allclose(after["conv5_block1_conv"][0], before["conv5_block1_conv"][0])
    for name in ("conv4_block1_conv", "conv4_block1_bn", "conv5_block1_bn"):  # BatchNorm statistics included
        for new, old in zip(after[name], before[name]):
            np.testing.assert_array_equal(new, old, err_msg=name)
    for stage in finetune.STAGES:  # one resumable run per stage
        assert (tmp_path / stage / "model.keras").exists()
        assert len((tmp_path / stage / "history.csv").read_text().splitlines()) == 1 + 2
    again = tiny_resnet(k)  # a fresh model, as after a restart: both stages are restored, not retrained
    restored = finetune.two_stage_fit(again, data, finetune.FineTuneRecipe(epochs=2, batch_size=8), run_dir=tmp_path, verbose=0)
    for new, old in zip(again.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(new, old)
    assert restored["fine_tuned"].scores == tuned.scores


def test_headline_metrics_average_the_classes():
    scores = {"accuracy": 0.75, "macro_f1": 0.6, "per_class": {
        "a": {"precision": 1.0, "recall": 0.5, "f1": 0.667}, "b": {"precision": 0.5, "recall": 1.0, "f1": 0.667}}}
    assert finetune.headline_metrics(scores) == {"accuracy": 0.75, "precision": 0.75, "recall": 0.75, "f1": 0.6}


def test_from_scratch_baseline_reads_notebook_03_validation_scores():
    scores = {"n": 10, "accuracy": 0.9, "macro_f1": 0.8, "per_class": {"a": {"precision": 1.0, "recall": 0.9}}}
    record = {"provenance": {}, "recipe": {"arch": "residual_cnn"}, "train": {**scores, "accuracy": 1.0},
              "validation": scores}
    assert finetune.from_scratch_baseline(record) == {
        "name": "residual_cnn (notebook 03)", "n_val": 10,
        "metrics": {"accuracy": 0.9, "precision": 1.0, "recall": 0.9, "f1": 0.8}}
    with pytest.raises(ValueError, match="rerun notebook 03"):
        finetune.from_scratch_baseline({"provenance": {}})


TABLE = {
    "frozen": {"accuracy": 0.5, "precision": 0.4, "recall": 0.5, "f1": 0.45,
               "trainable_params": 100, "seconds_per_epoch": 2.0},
    "fine_tuned": {"accuracy": 0.7, "precision": 0.6, "recall": 0.7, "f1": 0.65,
                   "trainable_params": 5000, "seconds_per_epoch": 3.0},
}
SCRATCH = {"name": "residual_cnn (notebook 03)", "n_val": 10,
           "metrics": {"accuracy": 0.8, "precision": 0.8, "recall": 0.8, "f1": 0.8}}


def test_comparison_rows_hold_each_stage_then_the_baseline():
    rows = finetune.comparison_rows("resnet50", TABLE, SCRATCH)
    assert list(rows) == ["resnet50 frozen", "resnet50 fine_tuned", "residual_cnn (notebook 03)"]
    assert rows["resnet50 fine_tuned"] == {"accuracy": 0.7, "precision": 0.6, "recall": 0.7, "f1": 0.65}
    assert list(finetune.comparison_rows("resnet50", TABLE, None)) == ["resnet50 frozen", "resnet50 fine_tuned"]


def test_findings_state_the_numbers_and_which_weights():
    lines = finetune.findings(arch="resnet50", pretrained=False, n_train=64, image_size=64, epochs=1,
                              table=TABLE, max_abs_r=0.42, scratch=SCRATCH)
    text = "\n".join(lines)
    assert "frozen 0.500, fine-tuned 0.700 (best: fine_tuned)" in text
    assert "trainable parameters by 50 and the time per epoch by 1.50" in text
    assert "|r| = 0.42" in text and "-10.0 points" in text and "because the backbone is random" in text
    pretrained = finetune.findings(arch="resnet50", pretrained=True, n_train=64, image_size=64, epochs=1,
                                   table=TABLE, max_abs_r=0.42, scratch=None)
    assert "No comparison with notebook 03" in pretrained[3] and "ImageNet weights" in pretrained[0]


def test_stages_run_dir_is_keyed_by_data_backbone_weights_and_recipe():
    from conftest import quadrant_data

    data, recipe = quadrant_data(), finetune.FineTuneRecipe(epochs=2, batch_size=8)
    first = finetune.stages_run_dir(data, "resnet50", recipe, pretrained=False)
    assert first == finetune.stages_run_dir(quadrant_data(), "resnet50", recipe, pretrained=False)
    assert first.parent == config.runs_dir() / "transfer" and first.name.startswith("resnet50-")
    others = [finetune.stages_run_dir(data, "resnet50", recipe, pretrained=True),
              finetune.stages_run_dir(data, "efficientnetb0", recipe, pretrained=False),
              finetune.stages_run_dir(data, "resnet50", dataclasses.replace(recipe, epochs=3), pretrained=False),
              finetune.stages_run_dir(quadrant_data(seed=1), "resnet50", recipe, pretrained=False)]
    assert len({first, *others}) == 5
