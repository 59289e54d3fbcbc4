"""Grad-CAM family: shapes, batch = per image, a model with a known answer, CAM = Grad-CAM, nested backbones."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from brainmri.explain import CAM, ClassProbability, GradCAM, GradCAMPlusPlus, SmoothGradCAMPlusPlus, find_target_layer
from brainmri.explain.gradcam import tap_model, upsample_and_normalise

SIZE = 16


class TopLeftOnly(keras.layers.Layer):
    """Zero every feature outside the top-left quadrant: the model can only look there."""

    def call(self, x):
        h, w = x.shape[1], x.shape[2]
        mask = np.zeros((1, h, w, 1), dtype="float32")
        mask[:, : h // 2, : w // 2] = 1
        return x * mask


def gap_dense_model(num_classes=3, channels=1, seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((SIZE, SIZE, channels), name="image")
    x = keras.layers.Rescaling(1 / 255, name="scale")(inputs)
    x = keras.layers.Conv2D(6, 3, padding="same", activation="relu", name="conv1")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv2")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.3, name="dropout")(x)
    units, activation = (1, "sigmoid") if num_classes == 2 else (num_classes, "softmax")
    return keras.Model(inputs, keras.layers.Dense(units, activation=activation, name="predictions")(x))


def images(n=5, channels=1, seed=1):
    return np.random.default_rng(seed).uniform(0, 255, (n, SIZE, SIZE, channels)).astype("float32")


@pytest.fixture(scope="module")
def model():
    return gap_dense_model()


@pytest.mark.parametrize("explainer", [GradCAM, GradCAMPlusPlus, SmoothGradCAMPlusPlus, CAM])
def test_heatmaps_have_input_size_and_unit_range(model, explainer):
    result = explainer(model).explain(images())
    assert result.heatmaps.shape == (5, SIZE, SIZE)
    assert result.raw.shape == (5, SIZE, SIZE)  # conv2 keeps the input resolution
    assert result.heatmaps.min() >= 0 and result.heatmaps.max() <= 1
    assert np.allclose(result.heatmaps.max(axis=(1, 2)), 1)
    assert result.layer == "conv2"


def test_probabilities_and_predicted_class_match_the_model(model):
    x = images()
    probs = model.predict(x, verbose=0)
    result = GradCAM(model).explain(x)
    np.testing.assert_array_equal(result.predicted, probs.argmax(1))
    np.testing.assert_allclose(result.predicted_probability, probs.max(1), rtol=1e-5)
    chosen = GradCAM(model).explain(x, class_index=2)
    np.testing.assert_array_equal(chosen.class_index, [2] * 5)
    np.testing.assert_allclose(chosen.probability, probs[:, 2], rtol=1e-5)


@pytest.mark.parametrize("explainer", [GradCAM, GradCAMPlusPlus, SmoothGradCAMPlusPlus, CAM])
def test_batch_equals_one_image_at_a_time(model, explainer):
    x = images(6)
    explain = explainer(model)
    batch = explain.explain(x, class_index=[0, 1, 2, 0, 1, 2])
    for i, c in enumerate([0, 1, 2, 0, 1, 2]):
        single = explain.explain(x[i : i + 1], class_index=c)
        np.testing.assert_allclose(batch.heatmaps[i], single.heatmaps[0], atol=1e-5)


def test_smooth_grad_cam_plus_plus_without_noise_is_grad_cam_plus_plus(model):
    x = images()
    smooth = SmoothGradCAMPlusPlus(model, samples=3, noise_fraction=0.0).explain(x)
    plain = GradCAMPlusPlus(model).explain(x)
    np.testing.assert_allclose(smooth.raw, plain.raw, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(smooth.class_index, plain.class_index)
    assert smooth.method == "Smooth Grad-CAM++"


def test_smooth_grad_cam_plus_plus_averages_noisy_maps_reproducibly(model):
    x = images()
    first = SmoothGradCAMPlusPlus(model, samples=4, seed=3).explain(x, class_index=1)
    again = SmoothGradCAMPlusPlus(model, samples=4, seed=3).explain(x, class_index=1)
    other_seed = SmoothGradCAMPlusPlus(model, samples=4, seed=4).explain(x, class_index=1)
    plain = GradCAMPlusPlus(model).explain(x, class_index=1)
    np.testing.assert_array_equal(first.heatmaps, again.heatmaps)
    assert not np.allclose(first.raw, other_seed.raw)
    assert not np.allclose(first.raw, plain.raw)
    np.testing.assert_allclose(first.probability, plain.probability)  # reported for the clean scan


def test_smooth_grad_cam_plus_plus_refuses_no_samples(model):
    with pytest.raises(ValueError, match="samples must be >= 1"):
        SmoothGradCAMPlusPlus(model, samples=0)


def quadrant_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="conv")(inputs)
    x = TopLeftOnly(name="top_left")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="predictions")(x))


@pytest.mark.parametrize("explainer", [GradCAM, GradCAMPlusPlus, SmoothGradCAMPlusPlus, CAM])
def test_a_model_that_only_sees_one_quadrant_is_explained_there(explainer):
    model = quadrant_model()
    kernel = model.get_layer("predictions").kernel.numpy()
    class_index = int(np.argmax(kernel.sum(axis=0)))  # the class the features push up
    heatmaps = explainer(model).explain(images(4), class_index=class_index).heatmaps
    half = SIZE // 2
    inside = heatmaps[:, :half, :half].sum(axis=(1, 2))
    assert np.all(inside > 0)
    # Bilinear upsampling is the identity here (16 -> 16): nothing may leak out of the quadrant.
    assert np.all(inside / heatmaps.sum(axis=(1, 2)) > 0.999)


@pytest.mark.parametrize("num_classes", [2, 4])
def test_cam_is_grad_cam_times_feature_map_area_for_gap_dense(num_classes):
    model = gap_dense_model(num_classes=num_classes, seed=5)
    x = images(4)
    for class_index in range(num_classes):
        grad = GradCAM(model).explain(x, class_index=class_index).raw
        cam = CAM(model).explain(x, class_index=class_index).raw
        # Grad-CAM weights are W[k, c] / (h * w): the maps agree up to that factor.
        np.testing.assert_allclose(grad * SIZE * SIZE, cam, rtol=1e-4, atol=1e-5)


def test_cam_refuses_a_model_without_gap_into_the_output():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(8, activation="relu")(x)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    with pytest.raises(ValueError, match="global average pooling"):
        CAM(model).explain(images(2))
    assert GradCAM(model).explain(images(2)).heatmaps.shape == (2, SIZE, SIZE)


def test_named_layer_and_unknown_layer(model):
    assert GradCAM(model, layer="conv1").explain(images(2)).layer == "conv1"
    with pytest.raises(ValueError, match="has no layer 'nope'"):
        GradCAM(model, layer="nope")
    with pytest.raises(ValueError, match="no single 4-D output"):
        GradCAM(model, layer="gap")


def test_the_target_is_separate_from_the_explainer(model):
    x = images(3)
    logit = GradCAM(model).explain(x, class_index=1)
    prob = GradCAM(model, target=ClassProbability()).explain(x, class_index=1)
    np.testing.assert_allclose(logit.probability, prob.probability)
    assert not np.allclose(logit.raw, prob.raw)


def nested_model(backbone: keras.Model, channels_in=1, num_classes=3):
    inputs = keras.Input((backbone.input_shape[1], backbone.input_shape[2], channels_in), name="image")
    x = keras.layers.Concatenate(name="to_rgb")([inputs] * 3) if channels_in == 1 else inputs
    x = keras.layers.Rescaling(1 / 127.5, offset=-1, name="scale")(x)
    x = backbone(x, training=False)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    x = keras.layers.Dropout(0.2, name="dropout")(x)
    return keras.Model(inputs, keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x))


def small_backbone():
    keras.utils.set_random_seed(7)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu", name="b_conv1")(inputs)
    x = keras.layers.MaxPooling2D(name="b_pool")(x)
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="b_conv2")(x)
    return keras.Model(inputs, x, name="backbone")


def test_nested_backbone_tap_is_connected_and_matches_the_model():
    model = nested_model(small_backbone())
    path = find_target_layer(model)
    assert [layer.name for layer in path] == ["backbone", "b_conv2"]
    x = images(3)
    tap = tap_model(model, path, model.output)
    activation, output = tap(x, training=False)
    np.testing.assert_allclose(output, model.predict(x, verbose=0), rtol=1e-5)
    expected = keras.Model(model.get_layer("backbone").inputs, model.get_layer("backbone").get_layer("b_conv2").output)
    rgb = np.repeat(x, 3, axis=-1) / 127.5 - 1
    np.testing.assert_allclose(activation, expected(rgb), rtol=1e-5, atol=1e-6)


def test_nested_target_equals_the_same_tensor_seen_from_outside():
    model = nested_model(small_backbone())
    x = images(4)
    inside = GradCAM(model).explain(x)
    outside = GradCAM(model, layer="backbone").explain(x)
    assert inside.layer == "backbone/b_conv2"
    np.testing.assert_allclose(inside.raw, outside.raw, rtol=1e-5, atol=1e-7)
    inner_layer = GradCAM(model, layer="backbone/b_conv1").explain(x)
    assert inner_layer.raw.shape == (4, SIZE, SIZE)


def test_keras_applications_backbone_inside_a_classifier():
    keras.utils.set_random_seed(0)
    backbone = keras.applications.MobileNetV2(
        input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None, name="backbone"
    )
    model = nested_model(backbone, num_classes=4)
    x = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 1)).astype("float32")
    result = GradCAM(model).explain(x)
    assert result.layer == "backbone/out_relu"
    assert result.heatmaps.shape == (3, 32, 32)
    np.testing.assert_allclose(result.predicted_probability, model.predict(x, verbose=0).max(1), rtol=1e-4)
    np.testing.assert_allclose(result.raw, GradCAM(model, layer="backbone").explain(x).raw, rtol=1e-4, atol=1e-6)


def test_binary_model_explains_both_classes_with_opposite_signs():
    model = gap_dense_model(num_classes=2, seed=2)
    x = images(3)
    p = model.predict(x, verbose=0)[:, 0]
    result = GradCAM(model).explain(x)
    np.testing.assert_array_equal(result.predicted, (p >= 0.5).astype(int))
    np.testing.assert_allclose(result.predicted_probability, np.maximum(p, 1 - p), rtol=1e-5)
    cam1 = CAM(model).explain(x, class_index=1)
    cam0 = CAM(model).explain(x, class_index=0)
    signed = tf.einsum("bhwk,k->bhw", keras.Model(model.inputs, model.get_layer("conv2").output)(x),
                       model.get_layer("predictions").kernel[:, 0]).numpy()
    np.testing.assert_allclose(cam1.raw, np.maximum(signed, 0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(cam0.raw, np.maximum(-signed, 0), rtol=1e-4, atol=1e-5)


def test_upsampling_normalises_each_map_and_keeps_flat_maps_at_zero():
    raw = np.stack([np.arange(16, dtype="float32").reshape(4, 4), np.full((4, 4), 3.0, "float32")])
    out = upsample_and_normalise(raw, (8, 8))
    assert out.shape == (2, 8, 8)
    assert out[0].min() == 0 and out[0].max() == pytest.approx(1)
    assert np.all(out[1] == 0)


def test_images_must_be_a_batch(model):
    with pytest.raises(ValueError, match="must be \\(batch, height, width, channels\\)"):
        GradCAM(model).explain(images()[0])


def test_overlay_is_rgb_in_unit_range():
    from brainmri.plots.explain import overlay

    image = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 1), dtype=np.uint8)
    heat = np.linspace(0, 1, SIZE * SIZE, dtype="float32").reshape(SIZE, SIZE)
    out = overlay(image, heat)
    assert out.shape == (SIZE, SIZE, 3) and out.min() >= 0 and out.max() <= 1
    np.testing.assert_allclose(overlay(image, heat, alpha=0)[..., 0], overlay(image, heat, alpha=0)[..., 2])


def test_pick_examples_takes_correct_ones_per_class_then_mistakes():
    from brainmri.explain.gradcam import pick_examples

    labels = np.array([0, 0, 1, 1, 2, 2, 0, 1])
    predicted = np.array([0, 1, 1, 1, 2, 0, 0, 0])
    picked = pick_examples(labels, predicted, per_class=1, wrong=2)
    assert len(picked) == 5
    assert all(labels[i] == predicted[i] for i in picked[:3]) and sorted(labels[picked[:3]]) == [0, 1, 2]
    assert all(labels[i] != predicted[i] for i in picked[3:])


def test_block_outputs_lists_the_residual_cnn_blocks_in_order():
    from brainmri.explain.gradcam import block_outputs
    from brainmri.models import build_model

    model = build_model("residual_cnn", input_shape=(32, 32, 1), num_classes=3, width=4, stages=2)
    names = block_outputs(model)
    assert names == ["stage1_block1_out", "stage2_block1_out"]
    assert GradCAM(model).layer == names[-1]
