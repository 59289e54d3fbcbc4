"""Latent-space operations and measures, on small VAEs and toy classifiers built here."""

import keras
import numpy as np
import pytest

from brainmri import latent
from brainmri.evaluate import tumour_labels
from brainmri.models import vae as vae_model

SIZE = 16


def _brightness_classifier(channels=1, binary=True):
    """P(tumour) rises with mean brightness: a classifier whose answer we know."""
    image = keras.Input((SIZE, SIZE, channels))
    mean = keras.layers.GlobalAveragePooling2D()(image)
    mean = keras.layers.Lambda(lambda m: keras.ops.mean(m, axis=-1, keepdims=True) / 255.0)(mean)
    if binary:
        out = keras.layers.Dense(1, activation="sigmoid", kernel_initializer=keras.initializers.Constant(10.0),
                                 bias_initializer=keras.initializers.Constant(-5.0))(mean)
    else:  # classes (glioma, notumor): notumor falls with brightness
        out = keras.layers.Dense(2, activation="softmax", kernel_initializer=keras.initializers.Constant([[10.0, -10.0]]),
                                 bias_initializer=keras.initializers.Constant([-5.0, 5.0]))(mean)
    return keras.Model(image, out)


@pytest.fixture(scope="module")
def toy_vae():
    """An untrained encoder and a decoder whose answer we know: brightness = sigmoid(z1 + z2)."""
    encoder = vae_model.build_encoder(SIZE, 2)
    z = keras.Input((2,))
    flat = keras.layers.Dense(SIZE * SIZE, activation="sigmoid", kernel_initializer="ones", bias_initializer="zeros")(z)
    decoder = keras.Model(z, keras.layers.Reshape((SIZE, SIZE, 1))(flat))
    return vae_model.VAE(encoder, decoder)


def test_slerp_keeps_endpoints_and_interpolates_the_norm():
    rng = np.random.default_rng(0)
    z0, z1 = rng.standard_normal(8), 3 * rng.standard_normal(8)
    path = latent.slerp(z0, z1, np.linspace(0, 1, 5))
    np.testing.assert_allclose(path[0], z0, atol=1e-5)
    np.testing.assert_allclose(path[-1], z1, atol=1e-5)
    norms = np.linalg.norm(path, axis=1)
    np.testing.assert_allclose(norms, np.linspace(np.linalg.norm(z0), np.linalg.norm(z1), 5), rtol=1e-5)
    same_norm = latent.slerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), [0.5])[0]
    np.testing.assert_allclose(same_norm, [np.sqrt(0.5), np.sqrt(0.5)], atol=1e-6)  # on the circle, not inside
    np.testing.assert_allclose(latent.lerp(np.array([1.0, 0.0]), np.array([0.0, 1.0]), [0.5])[0], [0.5, 0.5])


def test_slerp_of_parallel_vectors_falls_back_to_a_line():
    z0 = np.array([1.0, 2.0])
    np.testing.assert_allclose(latent.slerp(z0, 2 * z0, [0.5])[0], 1.5 * z0, rtol=1e-5)


def test_attribute_vector_and_edits():
    z = np.array([[0.0, 0.0], [2.0, 0.0], [1.0, 4.0], [3.0, 4.0]])
    is_tumour = tumour_labels(np.array([1, 1, 0, 0]), ["glioma", "notumor"])
    np.testing.assert_array_equal(is_tumour, [0, 0, 1, 1])
    v = latent.attribute_vector(z, is_tumour)
    np.testing.assert_allclose(v, [1.0, 4.0])
    edits = latent.edit(z[:2], v, [0.0, 1.0])
    assert edits.shape == (2, 2, 2)
    np.testing.assert_allclose(edits[1], z[:2] + v)
    with pytest.raises(ValueError, match="need both tumour and healthy"):
        latent.attribute_vector(z, np.ones(4, bool))


def test_class_means():
    means = latent.class_means(np.array([[0.0], [2.0], [5.0]]), np.array([0, 0, 2]), ["a", "b", "c"])
    assert set(means) == {"a", "c"} and means["a"][0] == 1.0 and means["c"][0] == 5.0


def test_bridge_scales_resizes_and_tiles():
    images = np.full((2, 8, 8, 1), 0.5, np.float32)
    out = latent.to_classifier_input(images, SIZE, 3).numpy()
    assert out.shape == (2, SIZE, SIZE, 3)
    np.testing.assert_allclose(out, 127.5, atol=1e-3)
    with pytest.raises(ValueError, match="grayscale images"):
        latent.to_classifier_input(np.zeros((2, 8, 8, 3)), SIZE, 3)


def test_scorer_reads_binary_and_multiclass_heads():
    bright, dark = np.full((1, SIZE, SIZE, 1), 0.9, np.float32), np.full((1, SIZE, SIZE, 1), 0.1, np.float32)
    for scorer in (latent.TumourScorer(_brightness_classifier(binary=True), ["notumor", "tumor"]),
                   latent.TumourScorer(_brightness_classifier(3, binary=False), ["glioma", "notumor"]),
                   latent.TumourScorer(_brightness_classifier(3, binary=False), ["glioma", "notumor"], target="glioma")):
        assert scorer.predict(bright)[0] > 0.9 and scorer.predict(dark)[0] < 0.1
    with pytest.raises(ValueError, match="not one of the classifier's classes"):
        latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"], target="glioma")


def test_latent_ascent_raises_the_probability_and_the_prior_keeps_z_closer(toy_vae):
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    free = latent.latent_ascent(toy_vae, scorer, n=4, steps=30, learning_rate=0.2)
    assert free.z.shape == (31, 4, 2) and free.images.shape == (31, 4, SIZE, SIZE, 1)
    assert free.probability[-1].mean() > free.probability[0].mean() + 0.05
    held = latent.latent_ascent(toy_vae, scorer, n=4, steps=30, learning_rate=0.2, prior_weight=1.0)
    assert np.linalg.norm(held.z[-1], axis=1).mean() < np.linalg.norm(free.z[-1], axis=1).mean()


def test_pixel_ascent_raises_the_probability_and_stays_in_range():
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    trajectory = latent.pixel_ascent(scorer, np.full((2, SIZE, SIZE, 1), 0.3, np.float32), steps=20, learning_rate=0.1)
    assert trajectory.z is None
    assert trajectory.probability[-1].min() > trajectory.probability[0].max()
    assert trajectory.images.min() >= 0 and trajectory.images.max() <= 1


def test_linear_probe_separates_separable_codes():
    rng = np.random.default_rng(0)
    t = np.arange(80) % 2
    z = rng.standard_normal((80, 3)) + 4 * t[:, None]
    scores = latent.linear_probe(z[:60], t[:60], z[60:], t[60:])
    assert scores["auc"] == 1.0 and scores["accuracy"] == 1.0


def test_encoder_classifier_copies_the_encoder(toy_vae):
    x = np.random.default_rng(0).random((8, SIZE, SIZE, 1)).astype(np.float32)
    before = toy_vae.encoder.get_weights()[0].copy()
    scores = latent.finetune_encoder(toy_vae, x, np.arange(8) % 2, x, np.arange(8) % 2, epochs=1, batch_size=4)
    assert 0 <= scores["accuracy"] <= 1
    np.testing.assert_array_equal(toy_vae.encoder.get_weights()[0], before)  # the VAE is untouched


def test_measure_curve_measures_flip_rate_ssim_and_shape():
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = ((yy - 8) ** 2 + (xx - 8) ** 2 < 25).astype(np.float32)[None, ..., None]

    def generate(a):  # brighter background with a
        return np.repeat(np.clip(disc * 0.8 + a * 0.6, 0, 1), 3, axis=0)

    curve = latent.measure_curve(generate, [0.0, 0.5, 1.0], scorer)
    assert curve["steps"] == [0.0, 0.5, 1.0]
    assert curve["flip_rate"] == [0.0, 0.0, 1.0]
    assert curve["ssim"][0] == pytest.approx(1.0) and curve["ssim"][2] < 1.0
    assert np.isfinite(curve["area"][0]) and curve["blank"][0] == 0
    assert latent.best_step(curve)["steps"] == 1.0


def test_positions_from_masks_and_heatmaps():
    masks = np.zeros((2, 10, 10), np.uint8)
    masks[0, 0:2, 0:2] = 1
    masks[1, 8:10, 4:6] = 1
    np.testing.assert_allclose(latent.mask_centroids(masks), [[0.05, 0.05], [0.85, 0.45]])
    heat = np.zeros((1, 10, 10))
    heat[0, 7, 2] = 1
    np.testing.assert_allclose(latent.heatmap_peaks(heat), [[0.75, 0.25]])
    with pytest.raises(ValueError, match="masks are empty"):
        latent.mask_centroids(np.zeros((1, 4, 4)))


def test_position_experiment_reports_every_group(toy_vae):
    rng = np.random.default_rng(0)
    z_h, z_t = rng.standard_normal((6, 2)), rng.standard_normal((8, 2)) + 1
    points = np.array([[0.2, 0.2]] * 4 + [[0.8, 0.8]] * 4) + 0.01 * rng.standard_normal((8, 2))
    masks = np.zeros((8, SIZE, SIZE), np.uint8)
    masks[:4, 2:5, 2:5] = 1
    masks[4:, 11:14, 11:14] = 1
    study = latent.position_experiment(toy_vae, z_h, z_t, points, k=2, alpha=1.0, region_masks=masks)
    result = study.summary
    assert sorted(g["n_tumours"] for g in result["groups"]) == [4, 4]
    for group in result["groups"]:
        assert 0 <= group["inside_group_vector"] <= 1 and group["region_area"] == pytest.approx(9 / 256)
    assert set(result["mean"]) >= {"distance_group_vector", "distance_global_vector", "inside_group_vector"}
    np.testing.assert_array_equal(study.groups, latent.location_groups(points, 2))


def test_position_experiment_returns_the_edits_it_measured(toy_vae):
    rng = np.random.default_rng(1)
    z_h, z_t = rng.standard_normal((5, 2)), rng.standard_normal((6, 2)) + 1
    points = np.array([[0.2, 0.2]] * 3 + [[0.8, 0.8]] * 3)
    study = latent.position_experiment(toy_vae, z_h, z_t, points, k=2, alpha=0.5)
    np.testing.assert_allclose(study.base, latent.decode(toy_vae, z_h))
    np.testing.assert_allclose(study.edits["global v"], latent.decode(toy_vae, z_h + 0.5 * (z_t.mean(0) - z_h.mean(0))))
    for g in range(2):
        group_v = z_t[study.groups == g].mean(0) - z_h.mean(0)
        np.testing.assert_allclose(study.edits[f"group {g} v"], latent.decode(toy_vae, z_h + 0.5 * group_v))
        assert study.centres[f"group {g} v"] == pytest.approx(points[study.groups == g].mean(0).tolist())
    assert "inside_group_vector" not in study.summary["mean"]  # no masks, no region share


def test_shape_matching_closes_the_shape_gap():
    rng = np.random.default_rng(0)
    is_tumour = np.array([True] * 20 + [False] * 60)
    features = rng.standard_normal((80, 2))
    features[is_tumour] += 1.5  # tumour heads differ in shape
    z = np.concatenate([features, rng.standard_normal((80, 1))], axis=1)  # codes carry the shape
    result = latent.shape_matched_vector(z, is_tumour, features)
    assert np.abs(result["gap_after"]).max() < 0.5 * np.abs(result["gap_before"]).max()
    naive = latent.attribute_vector(z, is_tumour)
    assert np.linalg.norm(result["vector"][:2]) < np.linalg.norm(naive[:2])  # less shape in the vector
    with pytest.raises(ValueError, match="no head outline"):
        latent.shape_matched_vector(z, is_tumour, np.where(np.arange(80)[:, None] == 0, np.nan, features))


def test_walk_and_edit_curves_start_at_their_base(toy_vae):
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    z0, z1 = np.full((3, 2), -2.0, np.float32), np.full((3, 2), 2.0, np.float32)
    assert set(latent.WALKS) == {"lerp", "slerp"}
    for kind in ("lerp", "slerp"):
        walk = latent.walk_curve(toy_vae, z0, z1, scorer, kind=kind, steps=[0.0, 0.5, 1.0])
        assert walk["ssim"][0] == pytest.approx(1.0)
    walk = latent.walk_curve(toy_vae, z0, z1, scorer, kind="lerp", steps=[0.0, 0.5, 1.0])
    assert walk["p_tumour"][0] < walk["p_tumour"][-1]  # brighter towards z1
    edit = latent.vector_edit_curve(toy_vae, z0, np.ones(2, np.float32), scorer, steps=[0.0, 1.0, 4.0])
    assert edit["flip_rate"][0] == 0.0 and edit["flip_rate"][-1] == 1.0
    assert latent.best_step(edit)["steps"] == 4.0
    assert edit["blank"][0] == 3  # flat toy images have no head outline: counted, not hidden


def test_shape_shift_is_measured_at_the_best_step():
    curve = {"steps": [0.0, 1.0, 2.0], "flip_rate": [0.0, 0.8, 0.5], "area": [0.5, 0.6, 0.7],
             "aspect_ratio": [1.0, 1.2, 1.3], "circularity": [0.9, 0.8, 0.7], "brightness": [0.4, 0.5, 0.6]}
    shift = latent.shape_shift(curve)
    assert shift == pytest.approx({"area": 0.1, "aspect_ratio": 0.2, "circularity": -0.1, "brightness": 0.1})


def test_label_edit_curve_slides_the_conditional_label():
    cvae = vae_model.build_vae(SIZE, 2, num_classes=2)
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    curve = latent.label_edit_curve(cvae, np.zeros((2, 2), np.float32), 0, 1, scorer, steps=[0.0, 1.0])
    assert curve["steps"] == [0.0, 1.0] and curve["ssim"][0] == pytest.approx(1.0) and curve["ssim"][1] < 1.0
    with pytest.raises(ValueError, match="decodes z together with a label"):
        latent.decode(cvae, np.zeros((1, 2)))


def test_ascent_summary_reports_where_the_ascent_ended(toy_vae):
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    trajectory = latent.latent_ascent(toy_vae, scorer, n=3, steps=5, learning_rate=0.3)
    rng = np.random.default_rng(0)
    probe = latent.fit_probe(rng.standard_normal((20, 2)), np.arange(20) % 2)
    summary = latent.ascent_summary(trajectory, toy_vae, probe)
    assert summary["p_end"] > summary["p_start"]
    assert summary["z_norm_end"] > summary["z_norm_start"]  # uphill is away from the origin here
    assert 0 <= summary["probe_p_end"] <= 1 and summary["typical_prior_norm"] == pytest.approx(np.sqrt(2))
    assert "z_norm_end" not in latent.ascent_summary(latent.pixel_ascent(scorer, trajectory.images[0], steps=2), toy_vae)


def _findings_record():
    step = lambda flip, a, ssim: {"flip_rate": flip, "steps": a, "ssim": ssim}  # noqa: E731
    position = {"distance_group_vector": 0.111, "distance_global_vector": 0.222, "inside_group_vector": 0.3,
                "inside_global_vector": 0.1, "region_area": 0.05}
    return {
        "best": {"v (naive)": step(0.6, 2.5, 0.47), "v (shape-matched)": step(0.4, 3.0, 0.5),
                 "cVAE -> glioma": step(0.7, 1.0, 0.81), "cVAE -> meningioma": step(0.9, 1.0, 0.87)},
        "shape_shift_at_best": {"v (naive)": {"area": -0.086, "aspect_ratio": 0.054, "brightness": -0.208},
                                "v (shape-matched)": {"area": 0.0, "aspect_ratio": -0.029, "brightness": -0.1}},
        "walks": {"slerp": {"p_tumour": [0.12, 0.98]}, "lerp": {"p_tumour": [0.13, 0.97]}},
        "shape_gap_data": {"aspect_ratio": {"cohens_d": -0.39}, "circularity": {"cohens_d": -0.52}},
        "naive_edit": {"tumour_rate": [0.25, 0.9]}, "reverse_edit": {"tumour_rate": [1.0, 0.59]},
        "conditional_edits": {"cVAE -> glioma": {}, "cVAE -> meningioma": {}},
        "position_phantom": {"mean": position}, "position_real_gradcam": {"mean": {**position, "distance_group_vector": 0.321}},
    }


def test_findings_markdown_reads_every_number_from_the_record():
    text = latent.findings_markdown(_findings_record(), judge="run-abc", judge_accuracy=0.946)
    assert "run-abc, validation accuracy 0.946" in text
    assert "calls 25% of the\nhealthy reconstructions tumour" in text
    assert "flips at most 60%\n(at a = 2.5, SSIM to the unedited decoding 0.47)" in text
    assert "gets 41% of tumour scans called healthy" in text and "(from 0%)" in text
    assert "up to 90%\n(cVAE -> meningioma, SSIM 0.87)" in text  # the best conditional edit is chosen
    assert "Cohen's d\n-0.39 in aspect ratio and -0.52 in circularity" in text
    assert "0.321 vs\n0.222" in text


def test_setup_loads_data_models_and_judge_in_training_order(monkeypatch):
    from types import SimpleNamespace

    from brainmri import config
    from brainmri.latent import context

    calls = []
    rng = np.random.default_rng(0)
    data = SimpleNamespace(x_train=rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), y_train=np.array([0, 1, 2, 0, 1, 2]),
                           x_val=rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8), y_val=np.array([1, 1, 0]),
                           class_names=["glioma", "notumor", "pituitary"])
    monkeypatch.setattr(context, "resolve_data_root", lambda: "somewhere")
    monkeypatch.setattr(context, "load_dataset", lambda source, **kwargs: calls.append(("data", kwargs)) or data)
    monkeypatch.setattr(context, "load_or_train_vae", lambda x_train, x_val, **kwargs: calls.append(
        ("cvae" if "num_classes" in kwargs else "vae", x_train.shape)) or SimpleNamespace(vae=len(calls)))
    classifier = SimpleNamespace(model=_brightness_classifier(3, binary=False), class_names=["glioma", "notumor"])
    monkeypatch.setattr(context, "load_or_train_classifier",
                        lambda d, **kwargs: calls.append(("classifier", kwargs)) or classifier)
    profile = config.get_profile("smoke")
    plain = latent.setup(profile)
    assert [c[0] for c in calls] == ["data", "vae", "classifier"] and plain.cvae is None
    assert calls[1][1] == (6, profile.vae_image_size, profile.vae_image_size, 1)
    np.testing.assert_array_equal(plain.tumour_train, [True, False, True, True, False, True])
    assert plain.tumour_val.dtype == bool and plain.scorer.model is classifier.model
    calls.clear()
    both = latent.setup(profile, conditional=True)
    assert [c[0] for c in calls] == ["data", "vae", "cvae", "classifier"] and both.cvae == 3 and both.vae == 2
