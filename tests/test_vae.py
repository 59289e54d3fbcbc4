"""The VAE: sampling, KL, loss terms, warm-up, conditional inputs, PCA baseline, saving and caching."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from brainmri import train
from brainmri.models import vae as V


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


def test_total_loss_is_reconstruction_plus_weighted_kl_and_warmup_ramps():
    vae = V.build_vae(16, 2, beta=2.0, kl_warmup_steps=4)
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
    vae = V.build_vae(16, 2, learning_rate=3e-3)
    history = vae.fit(V.make_vae_dataset(x, batch_size=8), epochs=5, verbose=0).history
    assert set(history) >= {"loss", "reconstruction_loss", "kl_loss"}
    assert history["loss"][-1] < 0.7 * history["loss"][0]


def test_conditional_vae_needs_labels_and_uses_them():
    cvae = V.build_vae(16, 2, num_classes=3)
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
        vae = V.build_vae(16, 3, num_classes=num_classes, beta=0.5, kl_warmup_steps=7, reconstruction="mse")
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
    out = V.to_unit_grayscale(rgb, 16)
    assert out.shape == (2, 16, 16, 1) and out.dtype == np.float32
    np.testing.assert_allclose(out, 0.299, atol=1e-3)


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
    (first.path.parent / "finished.json").unlink()  # as if killed before the mark: never loaded
    capsys.readouterr()
    again = train.load_or_train_vae(x[:12], x[12:], latent_dim=2, epochs=1, batch_size=4)
    assert f"skipping the unfinished run in {first.path.parent}" in capsys.readouterr().out
    assert not again.loaded and again.path == first.path
    with pytest.raises(ValueError, match="needs labels_train and labels_val"):
        train.load_or_train_vae(x[:12], x[12:], num_classes=2)
