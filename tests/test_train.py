"""Recipe, fit helper, run directories and load-or-train, on tiny arrays made here."""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import QUADRANT_CLASSES, QUADRANT_SIZE, quadrant_data

from brainmri import config, train

CLASSES = QUADRANT_CLASSES
SIZE = QUADRANT_SIZE
TINY = {"width": 4, "depth": 1, "se_ratio": 0.25, "dropout": 0.0}


def tiny_recipe(**changes):
    return train.default_recipe(config.get_profile("smoke"), image_size=SIZE, arch_kwargs=TINY, **changes)


def test_default_recipe_follows_profile_and_ignores_none_overrides():
    default = config.get_profile("default")
    recipe = train.default_recipe(default, epochs=None, image_size=None, batch_size=8)
    assert (recipe.image_size, recipe.epochs, recipe.color) == (default.image_size, default.epochs, default.color)
    assert recipe.batch_size == 8 and recipe.arch == "residual_cnn"
    assert recipe.arch_kwargs == train.DEFAULT_ARCH_KWARGS["residual_cnn"]


def test_recipe_rejects_unknown_task_and_bad_sizes():
    with pytest.raises(ValueError, match="task"):
        train.Recipe(task="segmentation")
    with pytest.raises(ValueError, match="epochs"):
        train.Recipe(epochs=0)
    with pytest.raises(ValueError, match="head_crop in"):
        train.Recipe(head_crop=2.0)
    with pytest.raises(ValueError, match="bias_field >= 0"):
        train.Recipe(bias_field=-0.1)
    with pytest.raises(ValueError, match=r"hist_eq in \[0, 1\], got .*1.5"):
        train.Recipe(hist_eq=1.5)
    with pytest.raises(ValueError, match="ema_momentum"):
        train.Recipe(ema_momentum=1.0)


def test_default_recipe_adds_the_robustness_augmentation_the_bare_recipe_leaves_off():
    recipe = train.default_recipe(config.get_profile("default"))
    assert {name: getattr(recipe, name) for name in train.DEFAULT_ROBUSTNESS} == train.DEFAULT_ROBUSTNESS
    bare = train.Recipe()
    assert (bare.head_crop, bare.resample, bare.noise_sigma, bare.bias_field, bare.hist_eq,
            bare.ema_momentum) == (0.0, 1.0, 0.0, 0.0, 0.0, None)


def test_ema_momentum_averages_at_most_the_last_tenth_of_training():
    assert train.ema_momentum(0.999, 100_000) == 0.999
    assert train.ema_momentum(0.999, 1_000) == pytest.approx(0.99)  # 100 steps, not 1,000
    assert train.ema_momentum(0.999, 8) is None  # too short to average
    assert train.ema_momentum(None, 100_000) is None


def test_random_resample_blurs_the_chosen_share_and_keeps_the_rest():
    keras.utils.set_random_seed(0)
    images = tf.constant(np.tile([0.0, 255.0], 8 * 16 * 8).reshape(8, 16, 16, 1), tf.float32)  # stripes
    np.testing.assert_array_equal(train.random_resample(images, 4.0, share=0.0).numpy(), images.numpy())
    blurred = train.random_resample(images, 4.0, share=1.0).numpy()
    assert blurred.std() < images.numpy().std() and abs(blurred.mean() - 127.5) < 2  # same mean, less detail


def test_random_noise_stays_in_range_and_is_bounded_by_its_sigma():
    images = tf.fill([64, 16, 16, 1], 128.0)
    noisy = train.random_noise(images, 10.0).numpy()
    assert noisy.min() >= 0 and noisy.max() <= 255
    per_scan = noisy.reshape(64, -1).std(axis=1)
    assert per_scan.max() < 11 and per_scan.std() > 1  # sigma drawn per scan from [0, 10]
    np.testing.assert_array_equal(train.random_noise(images, 0.0).numpy(), images.numpy())


def test_random_bias_field_is_a_smooth_gain_bounded_by_its_amplitude():
    keras.utils.set_random_seed(0)
    images = tf.fill([32, 32, 32, 1], 100.0)
    shaded = train.random_bias_field(images, 0.5).numpy()
    gain = shaded / 100.0
    assert gain.min() >= np.exp(-0.5) - 1e-4 and gain.max() <= np.exp(0.5) + 1e-4
    assert np.abs(np.diff(gain, axis=1)).max() < 0.1  # smooth: neighbours differ by little
    assert gain.reshape(32, -1).std(axis=1).max() > 0.05  # but the gain varies across each scan
    np.testing.assert_allclose(train.random_bias_field(images, 0.0).numpy(), images.numpy())
    assert train.random_bias_field(tf.fill([2, 8, 8, 1], 250.0), 2.0).numpy().max() <= 255.0


def test_equalise_histograms_matches_opencv_on_every_scan_of_a_batch():
    cv2 = pytest.importorskip("cv2")
    rng = np.random.default_rng(0)
    scans = np.clip(rng.gamma(2.0, 30.0, (4, 24, 24, 1)), 0, 255).round().astype(np.float32)
    scans[:, :8] = 0  # black background, as around a head
    scans[1] = 9  # a single grey level: left as it is
    scans[2, 12:] = 200  # few levels
    expected = np.stack([cv2.equalizeHist(scan[..., 0].astype(np.uint8)) for scan in scans])[..., None]
    np.testing.assert_array_equal(train.equalise_histograms(tf.constant(scans)).numpy(), expected)


def test_random_histogram_equalisation_blends_the_chosen_share_towards_the_equalised_scan():
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(1)
    scans = tf.constant(np.clip(rng.normal(60, 20, (64, 16, 16, 1)), 0, 255).round(), tf.float32)
    np.testing.assert_array_equal(train.random_histogram_equalisation(scans, 0.0).numpy(), scans.numpy())
    blended = train.random_histogram_equalisation(scans, 1.0).numpy()
    direction = (train.equalise_histograms(scans) - scans).numpy().reshape(64, -1)
    change = (blended - scans.numpy()).reshape(64, -1)
    weight = (change * direction).sum(axis=1) / (direction * direction).sum(axis=1)
    np.testing.assert_allclose(change, weight[:, None] * direction, atol=1e-3)  # on the segment to the equalised scan
    assert weight.min() >= 0 and weight.max() <= 1 and weight.std() > 0.2  # a weight per scan, from [0, 1]
    half = train.random_histogram_equalisation(scans, 0.5).numpy()
    changed = np.abs(half - scans.numpy()).reshape(64, -1).max(axis=1) > 0
    assert 16 < changed.sum() < 48


def test_class_weights_balance_the_loss():
    weights = train.class_weights(np.array([0, 0, 0, 1]), 2)
    assert weights == {0: pytest.approx(4 / 6), 1: pytest.approx(2.0)}
    assert 3 * weights[0] == pytest.approx(1 * weights[1])  # each class contributes the same total weight
    with pytest.raises(ValueError, match=r"classes \[2\] have no samples"):
        train.class_weights(np.array([0, 1]), 3)


def test_random_gamma_keeps_range_and_is_identity_at_zero():
    images = tf.constant(np.linspace(0, 255, 2 * 8 * 8).reshape(2, 8, 8, 1), tf.float32)
    assert np.allclose(train.random_gamma(images, 0.0).numpy(), images.numpy(), atol=1e-3)
    out = train.random_gamma(images, 0.5).numpy()
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 255.0 + 1e-3
    assert out[0, 0, 0, 0] == pytest.approx(0.0, abs=1e-4)  # black stays black
    assert out[1, -1, -1, 0] == pytest.approx(255.0, abs=1e-3)  # white stays white


def test_data_fingerprint_sees_one_pixel_and_ignores_copies():
    data = quadrant_data()
    same = quadrant_data()
    assert train.data_fingerprint(data) == train.data_fingerprint(same)
    same.x_val[0, 0, 0, 0] ^= 1
    assert train.data_fingerprint(data) != train.data_fingerprint(same)


def test_load_or_train_trains_and_writes_a_run_once_then_loads_it(capsys):
    data = quadrant_data()
    smoke = config.get_profile("smoke")
    first = train.load_or_train_classifier(data, profile=smoke, image_size=SIZE, arch_kwargs=TINY, epochs=2, verbose=0)
    assert "training it into" in capsys.readouterr().out
    run_dir = first.run_dir
    assert run_dir.is_relative_to(config.runs_dir())
    assert {"model.keras", "history.csv", "config.json", "metrics.json", "finished.json"} <= {p.name for p in run_dir.iterdir()}
    assert not (run_dir / "backup").exists()  # the resume state goes once the run is marked finished
    record = json.loads((run_dir / "config.json").read_text())
    assert record["class_names"] == CLASSES and record["image_size"] == SIZE and record["color"] == "grayscale"
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["n"] == len(data.x_val) and metrics["epochs_run"] == 2 and len(metrics["epoch_seconds"]) == 2
    assert set(first.history) >= {"loss", "val_loss", "accuracy", "val_accuracy", "f1", "val_f1"}

    second = train.load_or_train_classifier(data, profile=smoke, image_size=SIZE, arch_kwargs=TINY, epochs=2, verbose=0)
    assert "loading the classifier" in capsys.readouterr().out
    assert second.run_dir == run_dir and second.metrics == metrics
    assert second.history["val_loss"] == pytest.approx(first.history["val_loss"])
    x = data.x_val.astype("float32")
    assert np.allclose(first.model.predict(x, verbose=0), second.model.predict(x, verbose=0), atol=1e-5)
    data.x_train[0, 0, 0, 0] ^= 1  # other data, other run
    assert train.run_key(tiny_recipe(epochs=2).to_dict(), train.data_fingerprint(data)) != record["run_key"]


def test_load_or_train_rejects_task_that_does_not_match_the_data():
    with pytest.raises(ValueError, match="task 'binary' does not match"):
        train.load_or_train_classifier(quadrant_data(), task="binary", image_size=SIZE)


def test_recalibrate_batchnorm_sets_moving_statistics_to_the_data_average():
    inputs = keras.Input((2, 2, 1))
    norm = keras.layers.BatchNormalization(momentum=0.9)
    model = keras.Model(inputs, keras.layers.Flatten()(norm(inputs)))
    x = np.random.default_rng(0).normal(5.0, 2.0, (8, 2, 2, 1)).astype("float32")
    assert train.recalibrate_batchnorm(model, x, batch_size=4) == 1
    batch_vars = [x[:4].var(), x[4:].var()]
    assert float(norm.moving_mean.numpy()[0]) == pytest.approx(x.mean(), rel=1e-5)
    assert float(norm.moving_variance.numpy()[0]) == pytest.approx(np.mean(batch_vars), rel=1e-4)
    assert norm.momentum == 0.9
    assert train.recalibrate_batchnorm(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]), x) == 0


def test_training_clock_stops_before_an_epoch_that_would_overrun_the_budget():
    clock = train.TrainingClock(1e-6)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    history = model.fit(np.zeros((4, 2)), np.zeros((4, 1)), epochs=5, verbose=0, callbacks=[clock])
    assert len(history.history["loss"]) == 1 and clock.stopped_epoch == 0 and len(clock.seconds) == 1
    with pytest.raises(ValueError, match="positive"):
        train.TrainingClock(0)


def test_training_clock_counts_the_epochs_of_an_earlier_life(tmp_path):
    """Resumed, the budget continues: 3 saved epochs of 10 s, the 4th would end past 0.6 min."""
    state = tmp_path / "clock.json"
    state.write_text(json.dumps({"epoch_seconds": [10.0, 10.0, 10.0, 99.0]}))
    clock = train.TrainingClock(0.6, state_path=state, completed_epochs=3)
    assert clock.seconds == [10.0, 10.0, 10.0] and clock.budget_spent
    assert not train.TrainingClock(0.7, state_path=state, completed_epochs=3).budget_spent


MIRRORED_FIT = textwrap.dedent("""
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import json, sys
    sys.path.insert(0, {tests!r})
    from test_train import quadrant_data, tiny_recipe
    from brainmri import train
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    recipe = tiny_recipe(epochs=1, batch_size=8)
    model = train.build_classifier(recipe, 4, distribute=mirrored)
    summary = train.fit(model, quadrant_data(), recipe, verbose=0)
    print(json.dumps({{"replicas": model.distribute_strategy.num_replicas_in_sync,
                      "loss": summary["history"]["loss"][0]}}))
""")


def test_fit_runs_under_mirrored_strategy_on_two_cpu_devices(tmp_path):
    """Logical devices must be set before TensorFlow initialises, hence a fresh interpreter."""
    tests_dir = str(config.project_root() / "tests")
    done = subprocess.run([sys.executable, "-c", MIRRORED_FIT.format(tests=tests_dir)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2 and np.isfinite(result["loss"])


def test_fit_under_mixed_precision_keeps_float32_probabilities(monkeypatch):
    """What a GPU run does: float16 convolutions, loss scaling, probabilities still in float32."""
    monkeypatch.setenv("BRAINMRI_PRECISION", "mixed_float16")
    recipe = tiny_recipe(epochs=1, batch_size=8)
    model = train.build_classifier(recipe, 4)
    assert model.get_layer("stage1_block1_a_conv").compute_dtype == "float16"
    summary = train.fit(model, quadrant_data(), recipe, verbose=0)
    assert isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    probs = np.asarray(summary["model"](quadrant_data().x_val.astype("float32"), training=False))
    assert probs.dtype == np.float32 and np.allclose(probs.sum(axis=1), 1, atol=1e-5)
    assert np.isfinite(summary["history"]["loss"][0])
