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


def test_positions_from_masks():
    masks = np.zeros((2, 10, 10), np.uint8)
    masks[0, 0:2, 0:2] = 1
    masks[1, 8:10, 4:6] = 1
    np.testing.assert_allclose(latent.mask_centroids(masks), [[0.05, 0.05], [0.85, 0.45]])
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
        assert group["enrichment_group_vector"] >= 0 and group["region_area"] == pytest.approx(9 / 256)
    assert set(result["mean"]) >= {"distance_group_vector", "distance_global_vector", "enrichment_group_vector"}
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
    assert "enrichment_group_vector" not in study.summary["mean"]  # no masks, no region share


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
    row = lambda flips, kept, rate, lo, hi: {"flips": flips, "kept": kept, "flip_rate": rate,  # noqa: E731
                                            "wilson_95": {"low": lo, "high": hi}, "strength": 1.5}
    position = {"distance_group_vector": 0.1, "distance_global_vector": 0.2, "enrichment_group_vector": 2.5,
                "enrichment_global_vector": 1.1, "enrichment_group_vector_95": (2.0, 3.0),
                "enrichment_global_vector_95": (0.9, 1.3), "region_area": 0.05}
    return {
        "protocol": {"tumour_vector": {**row(6, 15, 0.4, 0.2, 0.64), "chosen_by_tie_at_zero": False, "selection_curve": [
                         {"strength": 1.0, "flips": 2, "kept": 14}, {"strength": 1.5, "flips": 5, "kept": 12}]},
                     "n_scored": 40, "base_healthy": 30, "n_select": 16, "select_healthy": 14, "ssim_floor": 0.8, "null_p95": 0.05,
                     "nulls": {"shuffled labels": {"p95": 0.04}, "random direction": {"p95": 0.06}}},
        "kid": {"drop_fraction": 0.62, "kid_unedited": 0.05, "kid_edited": 0.019},
        "local_protocol": {"tumour_vector": row(30, 100, 0.3, 0.22, 0.4),
                           "nulls": {"shuffled labels": {"p95": 0.35, "median": 0.1},
                                     "random direction": {"p95": 0.27, "median": 0.08}}},
        "local_kid": {"drop_fraction": 0.44},
        "vectors": {"v (naive)": row(6, 15, 0.4, 0.2, 0.64), "v (shape-matched)": row(0, 0, float("nan"), 0, 0),
                    "v (nuisances projected out)": row(2, 20, 0.1, 0.03, 0.3)},
        "nuisance_adjustment": {"norm_left": 0.35, "cosine_with_naive": {"brightness": -0.8, "area": 0.2}},
        "shape_gap_data": {"brightness": {"cohens_d": -1.54}, "circularity": {"cohens_d": -0.52},
                           "aspect_ratio": {"cohens_d": 1.9}},
        "conditional_edits": {"cVAE -> glioma": {}, "cVAE -> meningioma": {}},
        "best": {"cVAE -> glioma": {"flip_rate": 0.7, "ssim": 0.81}, "cVAE -> meningioma": {"flip_rate": 0.9, "ssim": 0.87}},
        "area_study": {"area_r2": 0.66, "bins": [{}] * 4, "spearman_changed_area": 1.0, "spearman_mean_abs_change": 0.8},
        "position_readout_phantom": {"r2": 0.42, "n": 90},
        "position_phantom": {"mean": position}, "position_real": {"mean": {**position, "enrichment_group_vector": 1.01}},
        "explainer": {"method": "Smooth Grad-CAM++", "layer": "stage1_block1_out", "source": "results/05_faithfulness.json"},
    }


def test_findings_markdown_reads_every_number_from_the_record():
    text = latent.findings_markdown(_findings_record(), judge="run-abc", judge_accuracy=0.946)
    assert "The judge is run-abc; the classifier it comes from has validation accuracy 0.946" in text
    assert "the judge calls 40% (6 of 15; 95% interval 20%-64%) tumour: missed (target >= 0.50, got 0.40)" in text
    assert "on 16 healthy training scans (14 of whose" in text and "a = 1: 2 of 14, a = 1.5: 5 of 12)" in text
    assert "tie rule" not in text
    record = _findings_record()
    record["protocol"]["tumour_vector"].update(chosen_by_tie_at_zero=True, strength=1.0)
    tied = latent.findings_markdown(record, judge="run-abc", judge_accuracy=0.946)
    assert "No strength flipped any, so a = 1 is the tie rule's default (the smallest), not a choice" in tied
    record["protocol"]["tumour_vector"]["selection_curve"] = []
    untried = latent.findings_markdown(record, judge="run-abc", judge_accuracy=0.946)
    assert "no edit could be tried there, so a = 1 is the default (the smallest), not a choice" in untried
    assert "95th percentile of\n5% (shuffled labels: 4%; random direction: 6%): met" in text
    assert "62% closer" in text and "0.0500 -> 0.0190): met" in text
    assert "shape-matched no rate (no edit kept)" in text and "35% of the tumour vector's length" in text
    assert "differ most in aspect ratio\n(Cohen's d +1.90; brightness -1.54)" in text
    assert "brightness, cosine -0.80" in text and "up to 90% (cVAE -> meningioma" in text
    assert "R^2 0.66" in text and "grows with the tumours' area" in text
    assert "R^2 0.42 (90 tumour scans): missed (target >= 0.50, got 0.42)" in text
    assert "2.50 (2.00-3.00) times" in text and "Smooth Grad-CAM++ at stage1_block1_out" in text
    assert "1.01 (2.00-3.00)\nagainst 1.10 (0.90-1.30)" in text
    assert "flips\n30% (30 of 100; 95% interval 22%-40%) at a = 1.5" in text
    assert "95th percentile of\n27% (median 8%), the recipe on shuffled labels\n35%: it does not beat its controls" in text
    assert "44% closer to reconstructed tumour scans" in text
    record["local_protocol"]["tumour_vector"]["flip_rate"] = 0.6
    assert "it beats both" in latent.findings_markdown(record, judge="run-abc", judge_accuracy=0.946)
    record["shape_gap_data"]["aspect_ratio"]["cohens_d"] = 0.1
    assert "differ most in brightness\n(Cohen's d -1.54)." in latent.findings_markdown(record, judge="run-abc", judge_accuracy=0.946)
    record["local_protocol"]["tumour_vector"].update(kept=0, flips=0, flip_rate=float("nan"))
    assert "no rate (no edit kept) at a = 1.5" in latent.findings_markdown(record, judge="run-abc", judge_accuracy=0.946)
    assert "with no edit kept it has nothing to compare" in latent.findings_markdown(record, judge="run-abc", judge_accuracy=0.946)


def test_setup_loads_data_models_and_judge_in_training_order(monkeypatch):
    from pathlib import Path
    from types import SimpleNamespace

    from brainmri import config
    from brainmri.latent import context

    calls = []
    rng = np.random.default_rng(0)
    data = SimpleNamespace(x_train=rng.integers(0, 255, (6, 8, 8, 3), dtype=np.uint8), y_train=np.array([0, 1, 2, 0, 1, 2]),
                           x_val=rng.integers(0, 255, (3, 8, 8, 3), dtype=np.uint8), y_val=np.array([1, 1, 0]),
                           class_names=["glioma", "notumor", "pituitary"])
    monkeypatch.setattr(context, "resolve_data_root", lambda: "somewhere")
    monkeypatch.setattr(context, "load_profile_dataset", lambda source, profile: calls.append(("data", profile)) or data)
    monkeypatch.setattr(context, "load_or_train_vae", lambda x_train, x_val, **kwargs: calls.append(
        ("cvae" if "num_classes" in kwargs else "vae", x_train.shape)) or SimpleNamespace(vae=len(calls)))
    classifier = SimpleNamespace(model=_brightness_classifier(3, binary=False), class_names=["glioma", "notumor"],
                                 run_dir=Path("runs/classifier-abc"))
    monkeypatch.setattr(context, "load_or_train_classifier",
                        lambda d, **kwargs: calls.append(("classifier", kwargs)) or classifier)
    judge = SimpleNamespace(model=_brightness_classifier(3, binary=False), path=Path("runs/judge/decodings-xyz/judge.keras"))
    monkeypatch.setattr(context, "load_or_finetune_judge", lambda vae_run, clf, x, y, **kwargs: calls.append(
        ("judge", vae_run.vae, clf is classifier, x.shape, tuple(y))) or judge)
    profile = config.get_profile("smoke")
    plain = latent.setup(profile)
    assert [c[0] for c in calls] == ["data", "vae", "classifier", "judge"] and plain.cvae is None
    assert calls[0][1] is profile
    assert calls[1][1] == (6, profile.vae_image_size, profile.vae_image_size, 1)
    assert calls[3] == ("judge", 2, True, (6, profile.vae_image_size, profile.vae_image_size, 1), (0, 1, 2, 0, 1, 2))
    np.testing.assert_array_equal(plain.tumour_train, [True, False, True, True, False, True])
    assert plain.tumour_val.dtype == bool and plain.vae == 2
    assert plain.scorer.model is judge.model and plain.second_opinion.model is classifier.model
    assert plain.judge_name == "classifier classifier-abc fine-tuned on decodings (decodings-xyz)"
    calls.clear()
    both = latent.setup(profile, conditional=True)
    assert [c[0] for c in calls] == ["data", "vae", "cvae", "classifier", "judge"] and both.cvae == 3 and both.vae == 2


# ----------------------------------------------------------------------------- the edit protocol


def test_edit_outcomes_match_one_decode_per_edit(toy_vae):
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    z = np.array([[-2.0, -2.0], [-1.0, -1.5], [0.0, -3.0]], np.float32)
    vectors = np.array([[1.0, 1.0], [0.0, -1.0]], np.float32)
    p, ssim = latent.edit_outcomes(toy_vae, z, vectors, [0.0, 2.0], scorer, batch_size=5)
    assert p.shape == ssim.shape == (2, 2, 3)
    base = latent.decode(toy_vae, z)
    for v in range(2):
        for a, strength in enumerate([0.0, 2.0]):
            images = latent.decode(toy_vae, z + strength * vectors[v])
            np.testing.assert_allclose(p[v, a], scorer.predict(images), atol=1e-5)
            np.testing.assert_allclose(ssim[v, a], vae_model.ssim_per_image(base, images), atol=1e-5)
    np.testing.assert_allclose(ssim[:, 0], 1.0, atol=1e-5)  # strength 0 is the unedited decoding
    gated_p, gated_ssim = latent.edit_outcomes(toy_vae, z, vectors, [0.0, 2.0], scorer, judge_from_ssim=0.99)
    np.testing.assert_allclose(gated_ssim, ssim, atol=1e-5)
    assert np.isnan(gated_p[ssim < 0.99]).all() and np.allclose(gated_p[ssim >= 0.99], p[ssim >= 0.99], atol=1e-5)
    assert (ssim < 0.99).any()  # the gate was tested on some edits
    with pytest.raises(ValueError, match="must match"):
        latent.edit_outcomes(toy_vae, z, np.ones((1, 3), np.float32), [1.0], scorer)


def test_flip_counts_keep_only_healthy_bases_above_the_ssim_floor():
    p = np.array([[0.9, 0.9, 0.9, 0.2]])
    ssim = np.array([[0.95, 0.5, 0.9, 0.9]])
    base_p = np.array([0.1, 0.1, 0.7, 0.1])  # scan 2 was already called tumour
    flips, kept = latent.flip_counts(p, ssim, base_p)
    assert flips.tolist() == [1] and kept.tolist() == [2]


def test_strength_is_the_one_with_most_kept_flips_and_larger_ones_stop_at_the_floor(toy_vae):
    """Brightness = sigmoid(z1 + z2); from z = (-1.5, -1.5), v = (1, 1) flips from a = 2 on."""
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    z = np.full((3, 2), -1.5, np.float32)
    vectors = np.array([[1.0, 1.0], [-1.0, -1.0]], np.float32)
    base = latent.decode(toy_vae, z)
    curves = latent.strength_curves(toy_vae, scorer, vectors, z, base, (3.0, 0.5, 2.0, 1.0), ssim_floor=0.0)
    assert curves["strengths"].tolist() == [0.5, 1.0, 2.0, 3.0]
    assert curves["flips"].tolist() == [[0, 0, 3, 3], [0, 0, 0, 0]] and (curves["kept"] == 3).all()
    assert latent.choose_strengths(curves).tolist() == [2.0, 0.5]  # most flips, smallest on ties; none: the smallest
    strict = latent.strength_curves(toy_vae, scorer, vectors, z, base, (0.5, 2.0), ssim_floor=0.99)
    assert strict["flips"].tolist() == [[0, -1], [0, -1]]  # nothing kept at 0.5: 2.0 is never tried
    assert latent.choose_strengths(strict).tolist() == [0.5, 0.5]
    assert latent.selection_curve(strict, 0) == [{"strength": 0.5, "flips": 0, "kept": 0, "flip_rate": pytest.approx(np.nan, nan_ok=True)}]
    nothing = latent.strength_curves(toy_vae, scorer, vectors, z[:0], base[:0], (1.0, 2.0))
    assert latent.choose_strengths(nothing).tolist() == [1.0, 1.0] and latent.selection_curve(nothing, 0) == []


def test_null_vectors_have_the_tumour_vectors_length():
    rng = np.random.default_rng(0)
    z, t = rng.standard_normal((40, 4)), np.arange(40) % 3 == 0
    vector_of = lambda labels: latent.attribute_vector(z, labels)  # noqa: E731
    v = np.full(4, 1.25)  # length 2.5, every coordinate changed
    nulls = latent.null_vectors(vector_of, t, v, 7, seed=1)
    assert set(nulls) == {"shuffled labels", "random direction"}
    for vectors in nulls.values():
        assert vectors.shape == (7, 4)
        np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 2.5, rtol=1e-5)
    assert len({tuple(np.round(v, 5)) for v in nulls["shuffled labels"]}) == 7  # different shuffles
    np.testing.assert_array_equal(nulls["random direction"], latent.null_vectors(vector_of, t, v, 7, seed=1)["random direction"])


def test_random_controls_of_a_local_vector_stay_on_its_cells():
    z, t = np.zeros((6, 4), np.float32), np.arange(6) < 3
    local = np.array([0.0, 3.0, 0.0, 4.0], np.float32)
    random = latent.null_vectors(lambda labels: local, t, local, 5, seed=0)["random direction"]
    assert (random[:, [0, 2]] == 0).all() and (random[:, [1, 3]] != 0).all()
    np.testing.assert_allclose(np.linalg.norm(random, axis=1), 5.0, rtol=1e-5)


def test_with_norm_rescales_one_vector_or_each_of_a_stack_and_keeps_directions():
    stack = np.array([[3.0, 4.0], [0.0, -2.0], [0.0, 0.0]], np.float32)
    scaled = latent.with_norm(stack, 10.0)
    np.testing.assert_allclose(scaled, [[6.0, 8.0], [0.0, -10.0], [0.0, 0.0]])  # a zero vector stays zero
    np.testing.assert_allclose(latent.with_norm(stack[0], 1.0), [0.6, 0.8])
    grids = np.ones((2, 3, 3, 2), np.float32)  # spatial codes: each one's norm over all its cells
    np.testing.assert_allclose(np.linalg.norm(latent.with_norm(grids, 2.0).reshape(2, -1), axis=1), 2.0, rtol=1e-6)


def test_local_attribute_vector_moves_each_tumours_deviation_to_the_median_cell():
    """A 5x5 grid with one map: healthy codes are 0, each tumour code is 1 at its tumour's cell and
    2 beside it; the local vector carries that pattern to the tumours' median cell, zero elsewhere."""
    side, cells = 5, [(1, 1), (2, 2), (2, 3)]
    healthy = np.zeros((4, side, side, 1), np.float32)
    tumours = np.zeros((len(cells), side, side, 1), np.float32)
    for code, (r, c) in zip(tumours, cells):
        code[r, c], code[r, c + 1] = 1.0, 2.0
    z = np.concatenate([healthy, tumours]).reshape(7, -1)
    t = np.arange(7) >= 4
    points = np.array([(0.5, 0.5)] * 4 + [((r + 0.5) / side, (c + 0.5) / side) for r, c in cells])
    v = latent.local_attribute_vector(z, t, points, (side, side, 1), window=0.4).reshape(side, side)
    expected = np.zeros((side, side), np.float32)
    expected[2, 2], expected[2, 3] = 1.0, 2.0  # the median cell of (1, 1), (2, 2), (2, 3) is (2, 2)
    np.testing.assert_allclose(v, expected)
    with pytest.raises(ValueError, match="one tumour position per code"):
        latent.local_attribute_vector(z, t, points[:3], (side, side, 1))
    with pytest.raises(ValueError, match="both tumour and healthy"):
        latent.local_attribute_vector(z, np.ones(7, bool), points, (side, side, 1))


def test_latent_grid_reads_a_spatial_latent_and_refuses_a_vector_one(toy_vae):
    spatial = vae_model.build_vae(SIZE, 0, latent_channels=3, filters=(8, 8))
    assert latent.latent_grid(spatial) == (SIZE // 4, SIZE // 4, 3)
    with pytest.raises(ValueError, match="vector latent"):
        latent.latent_grid(toy_vae)


def test_edit_protocol_separates_a_real_direction_from_its_controls(toy_vae):
    """Brightness = sigmoid(z1 + z2): v along (1, 1) brightens every scan; controls of the same
    length point anywhere. The strength is chosen on the selection codes, scored on the others."""
    scorer = latent.TumourScorer(_brightness_classifier(), ["notumor", "tumor"])
    rng = np.random.default_rng(0)
    z_train = np.concatenate([rng.normal(-1.5, 0.2, (20, 2)), rng.normal(0.5, 0.2, (20, 2))]).astype(np.float32)
    t_train = np.arange(40) >= 20
    vector_of = lambda labels: latent.attribute_vector(z_train, labels)  # noqa: E731
    result = latent.edit_protocol(toy_vae, scorer, vector_of, t_train, z_train[~t_train][:10], z_train[~t_train][10:],
                                  n_null=20, strengths=(0.25, 0.5, 1.0), ssim_floor=0.0)
    tumour = result["tumour_vector"]
    assert tumour["strength"] in (0.25, 0.5, 1.0) and tumour["kept"] == 10 and tumour["flip_rate"] == 1.0
    chosen_row = next(row for row in tumour["selection_curve"] if row["strength"] == tumour["strength"])
    assert chosen_row["flips"] == max(row["flips"] for row in tumour["selection_curve"]) > 0
    assert not tumour["chosen_by_tie_at_zero"] and result["select_healthy"] == 10
    assert tumour["wilson_95"]["low"] > 0.6 and tumour["wilson_95"]["high"] == pytest.approx(1.0)
    assert result["nulls"]["random direction"]["n"] == 20 and len(result["nulls"]["shuffled labels"]["flip_rates"]) == 20
    assert result["null_p95"] <= 1.0 and result["nulls"]["random direction"]["median"] < 1.0
    assert result["verdict"] == latent.control_verdict(tumour, result["nulls"])
    strict = latent.edit_protocol(toy_vae, scorer, vector_of, t_train, z_train[:5], z_train[5:10], n_null=2,
                                  ssim_floor=1.01)  # nothing can keep SSIM above 1: no kept edit, no rate
    assert strict["tumour_vector"]["kept"] == 0 and np.isnan(strict["tumour_vector"]["flip_rate"])
    assert strict["tumour_vector"]["chosen_by_tie_at_zero"]  # nothing flipped at any strength: the tie rule chose
    assert strict["verdict"] == "kept no edit"


def test_control_verdict_needs_the_rate_above_every_familys_95th_percentile():
    nulls = {"shuffled labels": {"p95": 0.2}, "random direction": {"p95": 0.1}}
    assert latent.control_verdict({"kept": 50, "flip_rate": 0.21}, nulls) == "beats its controls"
    assert latent.control_verdict({"kept": 50, "flip_rate": 0.2}, nulls) == "does not beat its controls"
    assert latent.control_verdict({"kept": 50, "flip_rate": 0.15}, nulls) == "does not beat its controls"
    assert latent.control_verdict({"kept": 0, "flip_rate": float("nan")}, nulls) == "kept no edit"


def _feature_classifier():
    image = keras.Input((SIZE, SIZE, 1))
    features = keras.layers.GlobalAveragePooling2D(name="features")(keras.layers.Conv2D(4, 3, name="conv")(image))
    return keras.Model(image, keras.layers.Dense(1, activation="sigmoid", name="predictions")(features))


def test_kid_drop_measures_how_much_closer_edits_come_to_the_reference():
    model = _feature_classifier()
    rng = np.random.default_rng(0)
    reference = rng.uniform(0.6, 1.0, (12, SIZE, SIZE, 1)).astype(np.float32)
    unedited = rng.uniform(0.0, 0.3, (12, SIZE, SIZE, 1)).astype(np.float32)
    assert latent.judge_features(model, reference).shape == (12, 4)
    closer = latent.kid_drop(model, rng.uniform(0.6, 1.0, (12, SIZE, SIZE, 1)).astype(np.float32), unedited, reference)
    assert closer["kid_unedited"] > 0 and closer["drop_fraction"] > 0.5
    assert latent.kid_drop(model, unedited, unedited, reference)["drop_fraction"] == pytest.approx(0.0)


# ----------------------------------------------------------------------------- ascent diagnostics


def test_mean_pairwise_distance():
    assert latent.mean_pairwise_distance(np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 0.0]])) == pytest.approx(10 / 3)
    assert latent.mean_pairwise_distance(np.zeros((1, 2))) == 0.0


def test_collapse_diagnostics_see_a_collapse_to_the_mean_image(toy_vae):
    rng = np.random.default_rng(0)
    z = rng.standard_normal((2, 4, 2)).astype(np.float32)
    z[-1] = 0.0  # every start ends at the origin
    images = np.stack([latent.decode(toy_vae, step) for step in z])
    collapsed = latent.Trajectory(z, np.zeros((2, 4)), images)
    mean_image = latent.decode(toy_vae, np.zeros((1, 2), np.float32))[0]
    out = latent.collapse_diagnostics(collapsed, typical_norm=1.4, mean_image=mean_image)
    assert out["norm_ratio"] == 0.0 and out["code_diversity_end"] == 0.0 and out["image_diversity_end"] == 0.0
    assert out["like_mean_image"] == 4 and out["ssim_to_mean_image_mean"] == pytest.approx(1.0)
    assert out["code_diversity_start"] > 0
    reference = latent.reference_codes(toy_vae, images[0])
    assert reference["typical_norm"] > 0 and reference["mean_image"].shape == (SIZE, SIZE, 1)


# ----------------------------------------------------------------------------- position, shape, labels


def test_position_readout_finds_position_in_codes_that_carry_it():
    rng = np.random.default_rng(0)
    centroids = rng.uniform(0.2, 0.8, (60, 2))
    carrying = np.concatenate([centroids @ rng.standard_normal((2, 5)), rng.standard_normal((60, 3))], axis=1)
    good = latent.position_readout(carrying + 0.01 * rng.standard_normal(carrying.shape), centroids)
    assert good["r2"] > 0.9 and good["r2_row"] > 0.9 and good["n"] == 60
    assert latent.position_readout(rng.standard_normal((60, 8)), centroids)["r2"] < 0.2
    with pytest.raises(ValueError, match="at least 10"):
        latent.position_readout(carrying[:6], centroids[:6])


def test_region_enrichment_is_share_inside_over_area():
    region = np.zeros((SIZE, SIZE))
    region[:8, :8] = 1  # a quarter of the image
    inside = np.zeros((1, SIZE, SIZE))
    inside[0, 2:5, 2:5] = 1
    even = np.ones((1, SIZE, SIZE))
    ratio = latent.region_enrichment(np.concatenate([inside, even, np.zeros((1, SIZE, SIZE))]), region)
    np.testing.assert_allclose(ratio[:2], [4.0, 1.0])
    assert np.isnan(ratio[2])  # no change, no share


def test_position_experiment_reports_enrichment_with_intervals(toy_vae):
    rng = np.random.default_rng(0)
    z_h, z_t = rng.standard_normal((6, 2)), rng.standard_normal((8, 2)) + 1
    points = np.array([[0.2, 0.2]] * 4 + [[0.8, 0.8]] * 4)
    masks = np.zeros((8, SIZE, SIZE), np.uint8)
    masks[:4, 2:5, 2:5] = 1
    masks[4:, 11:14, 11:14] = 1
    mean = latent.position_experiment(toy_vae, z_h, z_t, points, k=2, alpha=1.0, region_masks=masks).summary["mean"]
    # the toy decoder changes every pixel alike: no enrichment anywhere
    assert mean["enrichment_group_vector"] == pytest.approx(1.0) and mean["enrichment_global_vector"] == pytest.approx(1.0)
    low, high = mean["enrichment_group_vector_95"]
    assert low <= 1.0 + 1e-9 and high >= 1.0 - 1e-9


def _stage_classifier():
    image = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="stage1_block1_out")(image)
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="stage2_block1_out")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(2, activation="softmax", name="predictions")(x))


def test_faithful_explainer_follows_notebook_05_and_says_when_it_cannot(monkeypatch):
    from brainmri import config, results
    model = _stage_classifier()
    path = config.results_dir() / "05_faithfulness_test.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"chosen_method": "Grad-CAM++", "chosen_layer": "stage2_block1_out"}')
    explainer, note = latent.faithful_explainer(model, "05_faithfulness_test")
    assert note == {"method": "Grad-CAM++", "layer": "stage2_block1_out", "source": "results/05_faithfulness_test.json"}
    assert explainer.name == "Grad-CAM++"
    explainer, note = latent.faithful_explainer(model, "no_such_results")
    assert explainer.name == "Grad-CAM" and note["layer"] == "stage1_block1_out" and note["source"].startswith("fallback")
    path.write_text('{"chosen_method": "Grad-CAM++", "chosen_layer": "stage9_block1_out"}')
    assert "lacks" in latent.faithful_explainer(model, "05_faithfulness_test")[1]["source"]
    regions, centres = latent.explainer_regions(explainer, np.random.default_rng(0).uniform(0, 255, (3, SIZE, SIZE, 1)))
    assert regions.shape == (3, SIZE, SIZE) and set(np.unique(regions)) <= {0, 1}
    assert centres.shape == (3, 2) and (centres >= 0).all() and (centres <= 1).all()
    assert results.load_results("05_faithfulness_test")["chosen_layer"] == "stage9_block1_out"


def test_nuisance_table_measures_contrast_and_symmetry():
    yy, xx = np.mgrid[:SIZE, :SIZE]
    disc = ((yy - 8) ** 2 + (xx - 7.5) ** 2 < 25).astype(np.float32) * 0.8
    lopsided = disc.copy()
    lopsided[:, :8] *= 0.5
    table = latent.nuisance_table(np.stack([disc, lopsided])[..., None])
    assert set(table) == set(latent.NUISANCES)
    assert table["symmetry"][0] == pytest.approx(1.0) and table["symmetry"][1] < 0.99
    assert table["contrast"][0] == pytest.approx(0.0, abs=1e-6) and table["contrast"][1] > 0.1


def test_nuisance_adjustment_removes_what_brightness_explains():
    rng = np.random.default_rng(0)
    t = np.arange(200) % 2 == 0
    brightness = rng.standard_normal(200) + 1.5 * t  # tumour scans are brighter
    z = np.stack([brightness, 0.5 * t + 0.1 * rng.standard_normal(200), rng.standard_normal(200)], axis=1)
    out = latent.nuisance_adjusted_vector(z, t, {"brightness": brightness})
    direction = np.array([1.0, 0.0, 0.0])  # brightness moves z1 only
    assert abs(out["vector"] @ direction) < 0.05 and out["vector"][1] == pytest.approx(0.5, abs=0.05)
    assert out["norm_left"] < 0.5 and out["cosine_with_naive"]["brightness"] > 0.9
    assert out["regression_vector"][0] == pytest.approx(0.0, abs=0.2)  # at equal brightness z1 does not differ
    wide = np.concatenate([z, rng.standard_normal((200, 37))], axis=1)  # an unrelated nuisance takes out
    unrelated = latent.nuisance_adjusted_vector(wide, t, {"noise": rng.standard_normal(200)})  # about 1/d of v
    assert unrelated["norm_left"] > 0.9
    with pytest.raises(ValueError, match="undefined nuisances"):
        latent.nuisance_adjusted_vector(z, t, {"brightness": np.where(np.arange(200) == 3, np.nan, brightness)})


def test_area_conditioned_edits_grow_with_the_area(toy_vae):
    rng = np.random.default_rng(0)
    areas = rng.uniform(0.01, 0.2, 40)
    z_tumour = (areas[:, None] * np.array([10.0, 10.0]) + 0.01 * rng.standard_normal((40, 2))).astype(np.float32)
    z_healthy = np.full((5, 2), -1.0, np.float32)
    out = latent.area_conditioned_edits(toy_vae, z_healthy, z_tumour, areas, bins=4, change_threshold=0.01)
    assert [r["n_tumours"] for r in out["bins"]] == [10, 10, 10, 10]
    changes = [r["mean_abs_change"] for r in out["bins"]]
    assert np.all(np.diff(changes) > 0) and out["spearman_mean_abs_change"] == pytest.approx(1.0)
    assert out["slope_mean_abs_change"] > 0 and out["area_r2"] > 0.9
    assert np.isnan(out["spearman_changed_area"])  # every pixel changes alike here: the changed area is flat
    assert latent.mask_areas(np.ones((2, 4, 4))).tolist() == [1.0, 1.0]
    with pytest.raises(ValueError, match="40 tumour codes but 3 areas"):
        latent.area_conditioned_edits(toy_vae, z_healthy, z_tumour, areas[:3])


# ----------------------------------------------------------------------------- the scorecard


def test_scorecard_merges_notebooks_and_computes_verdicts():
    from brainmri import config
    (config.results_dir() / "generative_scorecard.json").unlink(missing_ok=True)
    first = latent.update_scorecard("07", vae_val_ssim=0.72, pca_val_ssim=0.45, vae_val_ssim_head=0.6)
    assert first["provenance"]["profile"] == "smoke"
    assert first["verdicts"]["vae_val_ssim"] == "met"
    assert first["verdicts"]["vae_val_ssim_head"] == "missed (target >= 0.70, got 0.60)"
    assert first["vae_ssim_over_pca"] == pytest.approx(0.27) and first["verdicts"]["vae_ssim_over_pca"] == "met"
    assert first["verdicts"]["flip_rate_at_ssim_0_8"] == "not measured" and first["flip_rate_at_ssim_0_8"] is None
    second = latent.update_scorecard("09", flip_rate_at_ssim_0_8=0.3, flip_rate_null_p95=0.05, kid_drop_fraction=float("nan"))
    assert second["vae_val_ssim"] == 0.72 and second["written_by"] == {
        "vae_val_ssim": "07", "pca_val_ssim": "07", "vae_val_ssim_head": "07", "flip_rate_at_ssim_0_8": "09",
        "flip_rate_null_p95": "09", "kid_drop_fraction": "09"}
    assert second["verdicts"]["flip_rate_null_p95"] == "met" and second["kid_drop_fraction"] is None
    assert second["verdicts"]["flip_rate_at_ssim_0_8"] == "missed (target >= 0.50, got 0.30)"
    assert latent.verdict(0.2, "<=", 0.15) == "missed (target <= 0.15, got 0.20)"
    with pytest.raises(ValueError, match="unknown scorecard keys"):
        latent.update_scorecard("08", flip_rate=0.5)


def test_protocol_figures_draw_what_they_are_given():
    import matplotlib.pyplot as plt

    from brainmri.plots.latent import plot_area_trend, plot_enrichment, plot_null_controls
    protocol = {"tumour_vector": {"flip_rate": 0.6, "wilson_95": {"low": 0.4, "high": 0.8}}, "null_p95": 0.1,
                "ssim_floor": 0.8, "nulls": {"random direction": {"n": 3, "flip_rates": [0.0, 0.1, float("nan")]}}}
    fig = plot_null_controls(protocol)
    assert [line.get_xdata()[0] for line in fig.axes[0].lines] == [0.6, 0.1]
    plt.close(fig)
    mean = {"enrichment_group_vector": 2.0, "enrichment_global_vector": 1.0,
            "enrichment_group_vector_95": (1.5, 2.5), "enrichment_global_vector_95": (0.8, 1.2)}
    fig = plot_enrichment({"phantom": {"mean": mean}, "real": {"mean": mean}})
    assert [round(p.get_height(), 3) for p in fig.axes[0].patches] == [2.0, 2.0, 1.0, 1.0]
    plt.close(fig)
    study = {"bins": [{"mean_area": 0.01, "changed_area": 0.1, "mean_abs_change": 0.02},
                      {"mean_area": 0.05, "changed_area": 0.3, "mean_abs_change": 0.04}],
             "spearman_changed_area": float("nan"), "spearman_mean_abs_change": float("nan")}
    fig = plot_area_trend(study)
    assert list(fig.axes[0].lines[0].get_ydata()) == [0.1, 0.3]
    plt.close(fig)


def test_ascent_markdown_says_when_the_starts_collapsed():
    run = {"p_start": 0.2, "p_end": 0.9, "z_norm_start": 2.8, "z_norm_end": 0.1, "pixel_change": 0.05,
           "self_ssim": 0.9, "probe_p_end": 0.3}
    summary = {"latent": run, "latent + prior": run, "pixel space": run}
    collapse = {"latent + prior": {"norm_ratio": 0.02, "typical_norm": 5.66, "image_diversity_end": 0.001,
                                   "image_diversity_start": 0.2, "like_mean_image": 8, "n_starts": 8,
                                   "ssim_to_mean_image_mean": 0.97}}
    text = latent.ascent_markdown(summary, collapse)
    assert "0.02 times the typical norm of encoded scans (5.66)" in text and "8 of 8 have SSIM >= 0.9" in text
    assert "the average head over again" in text
    collapse["latent + prior"].update(norm_ratio=0.9, like_mean_image=1)
    assert "no collapse onto the average head" in latent.ascent_markdown(summary, collapse)


def test_vae_markdown_reads_every_number_from_the_summary():
    spread = lambda kind, seeds, ssim, sd: {"latent": kind, "seeds": seeds, "vae_val_ssim_mean": ssim,  # noqa: E731
                                           "vae_val_ssim_sd": sd, "vae_val_ssim_head_mean": ssim - 0.1,
                                           "vae_val_ssim_head_sd": sd, "margin_over_pca_mean": ssim - 0.57,
                                           "margin_over_pca_sd": sd}
    judge = lambda auc, p: {"tumour_auc": auc, "healthy_mean_p_tumour": p}  # noqa: E731
    summary = {"val_ssim": {"VAE": 0.633, "PCA": 0.568}, "val_ssim_head": {"VAE": 0.545, "PCA": 0.524},
               "latent_dim": 512, "val_kl": 1175.2, "probe_vae": {"auc": 0.916}, "probe_pca": {"auc": 0.885},
               "judge": {"original on reconstructions": judge(0.988, 0.21), "fine-tuned on reconstructions": judge(0.995, 0.05)},
               "seed_spread": [spread("spatial 2x16x16", 3, 0.64, 0.006), spread("vector 512", 1, 0.569, float("nan"))]}
    verdicts = {key: "met" for key in latent.scorecard.TARGETS} | {"vae_val_ssim": "missed (target >= 0.70, got 0.63)"}
    text = latent.vae_markdown(summary, verdicts)
    assert "the VAE beats PCA on SSIM (0.633 vs 0.568" in text and "0.545 vs 0.524 inside the head; 512 dimensions" in text
    assert "1175 nats. Over 3 seeds the spatial 2x16x16 latent gives SSIM\n0.640 +- 0.006 (head 0.540 +- 0.006" in text
    assert "the vector 512 latent: SSIM 0.569, in the head 0.469, over PCA -0.001" in text  # one seed: no spread
    assert "AUC 0.988 and calls decoded healthy scans\ntumour with mean P 0.21" in text and "AUC 0.995\nand mean P 0.05" in text
    assert "vae_val_ssim missed (target >= 0.70, got 0.63), vae_val_ssim_head met" in text
    assert "flip_rate" not in text  # only the targets notebook 07 measures
    assert "falls short of PCA" in latent.vae_markdown({**summary, "val_ssim": {"VAE": 0.5, "PCA": 0.568}}, verdicts)
