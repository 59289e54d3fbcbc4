"""The VAE: sampling, KL, loss terms (the calibrated Gaussian), warm-up, the decoder's smoothness,
conditional and spatial latents, intensity normalisation, SSIM (whole and masked), PCA baseline,
saving and caching; the head mask and the judge fine-tuned on decodings."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from brainmri import config, train
from brainmri.latent import judge, reconstruction
from brainmri.models import vae as V
from conftest import QUADRANT_SIZE, quadrant_data


def _images(n=8, size=16, seed=0):
    return np.random.default_rng(seed).random((n, size, size, 1)).astype(np.float32)


def test_sampling_has_the_requested_mean_and_spread():
    mean = np.full((20000, 2), [0.0, 2.0], np.float32)
    log_var = np.full((20000, 2), [0.0, np.log(4.0)], np.float32)
    z = keras.ops.convert_to_numpy(V.Sampling(seed=1)([mean, log_var]))
    np.testing.assert_allclose(z.mean(0), [0.0, 2.0], atol=0.05)
    np.testing.assert_allclose(z.std(0), [1.0, 2.0], atol=0.05)


def test_kl_is_zero_for_the_prior_and_matches_the_closed_form():
    assert V.kl_divergence(tf.zeros((3, 5)), tf.zeros((3, 5))).numpy() == pytest.approx([0, 0, 0])
    # one dimension, mean 1, variance e: 0.5 * (e + 1 - 1 - 1) = 0.5 * (e - 1)
    kl = V.kl_divergence(tf.constant([[1.0]]), tf.constant([[1.0]])).numpy()[0]
    assert kl == pytest.approx(0.5 * (np.e - 1.0), rel=1e-5)


def test_reconstruction_losses_match_a_hand_computation():
    x = tf.constant([[[[1.0], [0.0]], [[0.5], [1.0]]]])  # one 2x2 image
    x_hat = tf.constant([[[[0.8], [0.1]], [[0.5], [0.6]]]])
    bce = -(np.log(0.8) + np.log(0.9) + (0.5 * np.log(0.5) + 0.5 * np.log(0.5)) + np.log(0.6))
    mse = 0.2**2 + 0.1**2 + 0.0 + 0.4**2
    assert V.reconstruction_loss(x, x_hat, "bce").numpy()[0] == pytest.approx(bce, rel=1e-5)
    assert V.reconstruction_loss(x, x_hat, "mse").numpy()[0] == pytest.approx(mse, rel=1e-5)
    # Gaussian with variance v: 0.5 * (sum of squares / v + 4 log v + 4 log 2 pi); by default v = mse / 4
    for v in (0.01, mse / 4):
        nll = 0.5 * (mse / v + 4 * np.log(v) + 4 * np.log(2 * np.pi))
        given = None if v == mse / 4 else tf.constant(np.log(v), tf.float32)
        assert V.reconstruction_loss(x, x_hat, "gaussian", log_variance=given).numpy()[0] == pytest.approx(nll, rel=1e-4)
    with pytest.raises(ValueError, match="reconstruction loss must be one of"):
        V.reconstruction_loss(x, x_hat, "l1")


def test_ssim_term_adds_pixel_scaled_dissimilarity():
    x = tf.constant(_images(2, 16))
    same = V.reconstruction_loss(x, x, "mse", ssim_weight=0.5).numpy()
    np.testing.assert_allclose(same, 0.0, atol=1e-3)  # identical images: no error, SSIM 1
    other = tf.constant(_images(2, 16, seed=1))
    plain = V.reconstruction_loss(x, other, "mse").numpy()
    with_ssim = V.reconstruction_loss(x, other, "mse", ssim_weight=0.5).numpy()
    expected = plain + 0.5 * 256 * (1 - tf.image.ssim(x, other, max_val=1.0).numpy())
    np.testing.assert_allclose(with_ssim, expected, rtol=1e-5)


def test_separable_ssim_and_its_gradient_match_tensorflow():
    x, y = tf.constant(_images(3, 32)), tf.Variable(_images(3, 32, seed=1))
    with tf.GradientTape(persistent=True) as tape:
        ours = tf.reduce_mean(V.local_ssim(x, y), axis=[1, 2, 3])
        theirs = tf.image.ssim(x, y, max_val=1.0)
    assert V.local_ssim(x, y).shape == (3, 22, 22, 1)
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), atol=1e-5)
    np.testing.assert_allclose(tape.gradient(ours, y).numpy(), tape.gradient(theirs, y).numpy(), atol=1e-6)


def test_total_loss_is_reconstruction_plus_weighted_kl_and_warmup_ramps():
    vae = V.build_vae(16, 2, filters=(8, 16), beta=2.0, kl_warmup_steps=4)
    x = _images(4)
    logs = vae.test_step(tf.constant(x))
    weight = 2.0 * 1 / 4  # before any step: (0 + 1) / 4 of beta
    assert float(logs["kl_weight"]) == pytest.approx(weight)
    assert float(logs["loss"]) == pytest.approx(float(logs["reconstruction_loss"]) + weight * float(logs["kl_loss"]), rel=1e-4)
    vae.fit(x, epochs=4, batch_size=4, verbose=0)  # 4 steps
    assert float(vae.kl_weight()) == pytest.approx(2.0)


def test_training_reduces_the_loss_on_a_learnable_set():
    x = np.zeros((32, 16, 16, 1), np.float32)
    x[:, 4:12, 4:12] = 1.0
    vae = V.build_vae(16, 2, filters=(8, 16), learning_rate=3e-3)
    history = vae.fit(V.make_vae_dataset(x, batch_size=8), epochs=5, verbose=0).history
    assert set(history) >= {"loss", "reconstruction_loss", "kl_loss", "log_variance"}
    assert history["loss"][-1] < history["loss"][0]
    assert history["log_variance"][-1] < history["log_variance"][0] - np.log(2)  # the residual variance halved


def test_conditional_vae_needs_labels_and_uses_them():
    cvae = V.build_vae(16, 2, filters=(8, 16), num_classes=3)
    x, labels = _images(6), V.one_hot(np.array([0, 1, 2, 0, 1, 2]), 3)
    assert cvae.num_classes == 3 and cvae.latent_dim == 2
    with pytest.raises(ValueError, match="needs \\(image, one_hot_label\\) pairs"):
        cvae.test_step(tf.constant(x))
    cvae.fit(V.make_vae_dataset(x, labels, batch_size=3), epochs=1, verbose=0)
    z = np.zeros((1, 2), np.float32)
    a, b = (keras.ops.convert_to_numpy(cvae.decode(z, V.one_hot(np.array([k]), 3))) for k in (0, 1))
    assert not np.allclose(a, b)  # the label changes the decoding


def test_save_and_load_round_trip_and_parts_work_alone(tmp_path):
    for num_classes in (0, 2):
        vae = V.build_vae(16, 3, filters=(8, 16), num_classes=num_classes, beta=0.5, kl_warmup_steps=7,
                          reconstruction="mse")
        x = _images(4)
        labels = np.array([0, 1, 0, 1]) if num_classes else None
        vae.fit(V.make_vae_dataset(x, None if labels is None else V.one_hot(labels, 2), batch_size=2), epochs=1, verbose=0)
        path = tmp_path / f"vae{num_classes}.keras"
        vae.save(path)
        loaded = keras.saving.load_model(path)
        assert isinstance(loaded, V.VAE)
        assert (loaded.beta, loaded.kl_warmup_steps, loaded.reconstruction) == (0.5, 7, "mse")
        np.testing.assert_allclose(V.reconstruct(loaded, x, labels), V.reconstruct(vae, x, labels), atol=1e-6)
        z_mean, z_log_var = loaded.encoder(x if not num_classes else [x, V.one_hot(labels, 2)])
        assert z_mean.shape == (4, 3) and z_log_var.shape == (4, 3)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="divisible by 2\\*\\*4"):
        V.build_encoder(20, 2)
    with pytest.raises(ValueError, match="expected images shaped"):
        V.to_unit_grayscale(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="must be in \\[0, 1\\]"):
        V.to_unit_grayscale(np.full((1, 4, 4, 1), 2.0, np.float32))


def test_to_unit_grayscale_scales_converts_and_resizes():
    rgb = np.zeros((2, 32, 32, 3), np.uint8)
    rgb[..., 0] = 255
    out = V.to_unit_grayscale(rgb, 16, normalise=False)
    assert out.shape == (2, 16, 16, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.299, atol=1e-3)
    np.testing.assert_allclose(V.to_unit_grayscale(rgb, 16), 1.0, atol=1e-3)  # each scan's bright tissue -> 1


def test_pca_baseline_is_exact_at_full_rank_and_ssim_is_one_for_copies():
    x = _images(6, 16)
    pca = V.PCABaseline.fit(x, latent_dim=5)  # 6 centred samples have rank 5
    np.testing.assert_allclose(pca.reconstruct(x), np.clip(x, 0, 1), atol=1e-4)
    np.testing.assert_allclose(V.ssim_per_image(x, x), 1.0, atol=1e-6)
    with pytest.raises(ValueError, match="shapes differ"):
        V.ssim_per_image(x, x[:2])


def test_load_or_train_vae_trains_once_then_loads(capsys):
    x = _images(16, 16)
    first = train.load_or_train_vae(x[:12], x[12:], latent_dim=2, epochs=1, batch_size=4)
    second = train.load_or_train_vae(x[:12], x[12:], latent_dim=2, epochs=1, batch_size=4)
    assert not first.loaded and second.loaded and first.path == second.path
    assert (first.path.parent / "finished.json").exists() and first.path.parent.parent.name == "vae"
    assert set(first.history) >= {"loss", "val_loss", "kl_loss", "val_reconstruction_loss"}
    assert second.history["val_loss"] == pytest.approx(first.history["val_loss"])
    assert len(second.epoch_seconds) == 1
    np.testing.assert_allclose(V.reconstruct(second.vae, x[:2]), V.reconstruct(first.vae, x[:2]), atol=1e-6)
    other = train.load_or_train_vae(x[:12], x[12:], latent_dim=2, epochs=1, batch_size=4, beta=2.0)
    assert not other.loaded and other.path != first.path
    budgeted = train.load_or_train_vae(x[:12], x[12:], latent_dim=2, epochs=1, batch_size=4, time_budget_min=5)
    assert not budgeted.loaded and budgeted.path != first.path  # the budget is part of the key
    assert first.vae.ssim_weight == config.get_profile().vae_ssim_weight > 0  # the profile's SSIM term
    plain = train.load_or_train_vae(x[:12], x[12:], latent_dim=2, epochs=1, batch_size=4, ssim_weight=0)
    assert not plain.loaded and plain.vae.ssim_weight == 0 and plain.path != first.path
    (first.path.parent / "finished.json").unlink()  # as if killed before the mark: never loaded
    capsys.readouterr()
    again = train.load_or_train_vae(x[:12], x[12:], latent_dim=2, epochs=1, batch_size=4)
    assert f"skipping the unfinished run in {first.path.parent}" in capsys.readouterr().out
    assert not again.loaded and again.path == first.path
    with pytest.raises(ValueError, match="needs labels_train and labels_val"):
        train.load_or_train_vae(x[:12], x[12:], num_classes=2)


def _blob_images(n=64, size=32, seed=0):
    """Discs of random centre, radius and brightness on black: smooth, learnable in a few steps."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    x = np.zeros((n, size, size, 1), np.float32)
    for image in x:
        cy, cx, r = rng.uniform(size * 0.35, size * 0.65, 2).tolist() + [rng.uniform(size * 0.2, size * 0.35)]
        image[..., 0] = rng.uniform(0.5, 1.0) * (((yy - cy) ** 2 + (xx - cx) ** 2) < r**2)
    return x


def test_gaussian_decoder_variance_moves_to_the_residual_variance():
    x = _blob_images()
    vae = V.build_vae(32, 4, filters=(8, 16), learning_rate=3e-3, seed=1)
    assert float(vae.log_variance) == 0.0  # variance 1 before training: far above any residual in [0, 1]
    vae.fit(V.make_vae_dataset(x, batch_size=8), epochs=3, verbose=0)  # 24 steps
    z_mean, z_log_var = vae.encode(x, training=True)  # as in a training step (batch statistics)
    sampled = keras.ops.convert_to_numpy(vae.decode(vae.sampling([z_mean, z_log_var]), training=True))
    residual = float(np.mean((x - sampled) ** 2))
    assert float(vae.log_variance) < np.log(0.2)
    assert abs(float(vae.log_variance) - np.log(residual)) < 0.7  # within a factor of 2 of the residual variance


def _interior_spread(images, border=12):
    """Standard deviation of the pixels away from the border (where zero padding reaches)."""
    return float(images[:, border:-border, border:-border].std())


def test_decoder_resizes_then_convolves_so_a_constant_code_decodes_to_a_flat_image():
    decoder = V.build_decoder(64, 0, filters=(8, 16), latent_channels=2)
    assert not [layer for layer in decoder.layers if isinstance(layer, keras.layers.Conv2DTranspose)]
    assert all(layer.dtype_policy.name == "float32" for layer in decoder.layers
               if isinstance(layer, keras.layers.UpSampling2D))
    flat = keras.ops.convert_to_numpy(decoder(np.ones((1, 16 * 16 * 2), np.float32)))
    # a stride-2 transposed convolution stack from the same constant map leaves a checkerboard
    keras.utils.set_random_seed(0)
    grid = keras.Input((16, 16, 2))
    x = grid
    for f in (16, 8):
        x = keras.layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")(x)
    checkered = keras.ops.convert_to_numpy(keras.Model(grid, x)(np.ones((1, 16, 16, 2), np.float32)))
    assert _interior_spread(flat) < 1e-4 and _interior_spread(checkered) > 1e-3


def test_spatial_latent_is_flat_outside_and_round_trips(tmp_path):
    vae = V.build_vae(32, 0, latent_channels=3, filters=(8, 16))
    assert vae.latent_dim == 8 * 8 * 3
    x = _images(4, 32)
    z_mean, z_log_var = vae.encode(x)
    assert z_mean.shape == (4, 192) and z_log_var.shape == (4, 192)
    assert vae.decode(z_mean).shape == (4, 32, 32, 1)
    vae.fit(x, epochs=1, batch_size=2, verbose=0)
    vae.save(tmp_path / "spatial.keras")
    loaded = keras.saving.load_model(tmp_path / "spatial.keras")
    assert loaded.latent_dim == 192 and float(loaded.log_variance) == pytest.approx(float(vae.log_variance))
    np.testing.assert_allclose(V.reconstruct(loaded, x), V.reconstruct(vae, x), atol=1e-5)
    cvae = V.build_vae(32, 0, latent_channels=3, num_classes=2, filters=(8, 16))
    z_mean, _ = cvae.encode(x, V.one_hot(np.array([0, 1, 0, 1]), 2))
    assert z_mean.shape == (4, 192)
    assert cvae.decode(z_mean, V.one_hot(np.array([1, 1, 0, 0]), 2)).shape == (4, 32, 32, 1)


def test_intensity_normalisation_round_trips_below_the_clipped_percentile():
    rng = np.random.default_rng(0)
    x = rng.random((3, 16, 16, 1)).astype(np.float32) * np.array([0.3, 0.6, 1.0], np.float32)[:, None, None, None]
    normalised, scale = V.normalise_intensity(x)
    assert normalised.min() >= 0 and normalised.max() <= 1
    np.testing.assert_allclose(np.percentile(normalised.reshape(3, -1), V.INTENSITY_PERCENTILE, axis=1), 1.0,
                               atol=5e-3)  # every scan's bright tissue at 1, whatever its exposure
    kept = x <= scale
    assert kept.mean() > 0.98
    np.testing.assert_allclose(V.restore_intensity(normalised, scale)[kept], x[kept], atol=1e-6)
    blank = np.zeros((1, 4, 4, 1), np.float32)
    assert np.all(V.normalise_intensity(blank)[0] == 0)  # no division by zero


def test_masked_ssim_matches_tensorflow_over_the_whole_image_and_scores_inside_the_mask():
    x, y = _images(3, 32), _images(3, 32, seed=1)
    whole = tf.image.ssim(tf.constant(x), tf.constant(y), max_val=1.0).numpy()
    np.testing.assert_allclose(V.ssim_per_image(x, y), whole, atol=1e-4)
    np.testing.assert_allclose(V.ssim_per_image(x, y, np.ones((3, 32, 32), bool)), whole, atol=1e-4)
    half = np.zeros((3, 32, 32), bool)
    half[:, :, :10] = True  # window centres up to column 9 see columns up to 14
    copy = y.copy()
    copy[:, :, :16] = x[:, :, :16]  # identical inside the left half only
    assert V.ssim_per_image(x, copy, half)[0] > 0.99 and V.ssim_per_image(x, copy)[0] < 0.8
    assert np.isnan(V.ssim_per_image(x, y, np.zeros((3, 32, 32), bool))).all()
    with pytest.raises(ValueError, match="masks must be shaped"):
        V.ssim_per_image(x, y, half[:, :16])


def test_head_mask_fills_the_largest_outline_and_is_empty_for_a_blank_slice():
    yy, xx = np.mgrid[:64, :64]
    image = np.zeros((64, 64, 1), np.float32)
    image[((yy - 32) ** 2 + (xx - 32) ** 2) < 20**2] = 0.8
    image[((yy - 32) ** 2 + (xx - 32) ** 2) < 6**2] = 0.0  # a dark ventricle inside the head
    image[2:5, 2:5] = 0.8  # a speck outside it
    masks = reconstruction.head_masks(np.stack([image, np.zeros_like(image)]))
    disc = ((yy - 32) ** 2 + (xx - 32) ** 2) < 20**2
    assert masks.shape == (2, 64, 64) and masks.dtype == bool
    assert masks[0, 32, 32] and not masks[0, 3, 3]  # the hole is filled, the speck left out
    assert abs(int(masks[0].sum()) - int(disc.sum())) < 0.05 * disc.sum()
    assert not masks[1].any()


def _quadrant_judge(seed=0):
    keras.utils.set_random_seed(seed)
    image = keras.Input((QUADRANT_SIZE, QUADRANT_SIZE, 1))
    x = keras.layers.Rescaling(1 / 255)(image)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(x)
    return keras.Model(image, keras.layers.Dense(4, activation="softmax")(keras.layers.Flatten()(x)))


def test_judge_finetuned_on_decodings_reads_them_better_and_the_original_is_kept():
    data = quadrant_data(n_train=64, n_val=32)
    blur = lambda images: tf.image.resize(tf.image.resize(images / 255.0, (8, 8)), (32, 32)).numpy()  # noqa: E731
    decoded_train, decoded_val = blur(data.x_train.astype(np.float32)), blur(data.x_val.astype(np.float32))
    original = _quadrant_judge()
    weights = [w.copy() for w in original.get_weights()]
    scorer = judge.TumourScorer(original, list(data.class_names))
    before = judge.judge_scores(scorer, decoded_val, data.y_val)
    tuned, history = judge.finetune_judge(original, decoded_train, data.y_train, epochs=6, batch_size=16,
                                          learning_rate=1e-2)
    after = judge.judge_scores(judge.TumourScorer(tuned, list(data.class_names)), decoded_val, data.y_val)
    assert after["accuracy"] >= 0.9 > before["accuracy"] and after["tumour_auc"] > before["tumour_auc"]
    assert after["healthy_mean_p_tumour"] < 0.3 and history["loss"][-1] < history["loss"][0]
    for kept, now in zip(weights, original.get_weights()):
        np.testing.assert_array_equal(kept, now)
    with pytest.raises(ValueError, match="healthy and tumour"):
        judge.judge_scores(scorer, decoded_val[:1], data.y_val[:1])


def test_judge_on_decodings_is_cached_by_vae_and_classifier_run(tmp_path):
    data = quadrant_data(n_train=32, n_val=16)
    x_train = V.to_unit_grayscale(data.x_train)
    vae_run = train.load_or_train_vae(x_train, V.to_unit_grayscale(data.x_val), latent_dim=2, epochs=1, batch_size=8)
    classifier = train.TrainedClassifier(_quadrant_judge(), tmp_path,
                                         {"run_key": "c1", "class_names": data.class_names}, {}, {})
    first = judge.load_or_finetune_judge(vae_run, classifier, x_train, data.y_train, epochs=1, verbose=False)
    again = judge.load_or_finetune_judge(vae_run, classifier, x_train, data.y_train, epochs=1, verbose=False)
    assert not first.loaded and again.loaded and again.path == first.path
    assert first.path.parent.parent.name == "judge" and (first.path.parent / "finished.json").exists()
    x = x_train[:4]
    np.testing.assert_allclose(judge.TumourScorer(again.model, data.class_names).predict(x),
                               judge.TumourScorer(first.model, data.class_names).predict(x), atol=1e-5)
    classifier.config["run_key"] = "c2"  # another classifier run: another judge
    assert not judge.load_or_finetune_judge(vae_run, classifier, x_train, data.y_train, epochs=1, verbose=False).loaded
