"""Hand-written convolution against cv2.filter2D and tf.nn.conv2d: values, kernel flip and borders."""

import cv2
import numpy as np
import pytest

from brainmri.convolution import (
    compare_with_libraries, convolve2d, convolve_cv2, convolve_tf, correlate2d, example_scans,
    gaussian_kernel, horizontal_edge_kernel, library_outputs, rescale_for_display,
    sharpen_kernel,
)

RNG = np.random.default_rng(0)
# Integer pixels and integer kernels: every sum is an exact integer in float64, so "equal" means equal.
IMAGE = RNG.integers(0, 256, (23, 31)).astype(np.float64)
ASYMMETRIC = RNG.integers(-5, 6, (5, 5)).astype(np.float64)
INTEGER_KERNELS = {"edge": horizontal_edge_kernel(5), "sharpen": sharpen_kernel(3), "asymmetric": ASYMMETRIC}


def test_kernels_follow_their_definitions():
    np.testing.assert_array_equal(horizontal_edge_kernel(5)[:, 0], [-2, -1, 0, 1, 2])
    assert np.all(horizontal_edge_kernel(5) == horizontal_edge_kernel(5)[:, :1])  # each row constant
    g = gaussian_kernel(5, sigma=1.0)
    assert g.max() == g[2, 2] == 1.0
    assert g[0, 1] == pytest.approx(np.exp(-5 / 2)) and g[0, 1] == g[1, 0] == g[4, 3]  # depends on distance only
    np.testing.assert_array_equal(sharpen_kernel(3), [[-1, -1, -1], [-1, 4, -1], [-1, -1, -1]])
    assert sharpen_kernel(5)[2, 2] == 16 and np.sum(sharpen_kernel(5) == -1) == 24


@pytest.mark.parametrize("name", INTEGER_KERNELS)
@pytest.mark.parametrize("border", ["zero", "reflect"])
def test_matches_cv2_filter2d_exactly(name, border):
    kernel = INTEGER_KERNELS[name]
    np.testing.assert_array_equal(convolve2d(IMAGE, kernel, border), convolve_cv2(IMAGE, kernel, border))


@pytest.mark.parametrize("name", INTEGER_KERNELS)
def test_matches_tf_conv2d_exactly(name):
    kernel = INTEGER_KERNELS[name]
    np.testing.assert_array_equal(convolve2d(IMAGE, kernel), convolve_tf(IMAGE, kernel))


def test_gaussian_matches_both_references_to_rounding():
    g = gaussian_kernel(5, 1.0)
    np.testing.assert_allclose(convolve2d(IMAGE, g), convolve_cv2(IMAGE, g), rtol=1e-13, atol=1e-10)
    np.testing.assert_allclose(convolve2d(IMAGE, g), convolve_tf(IMAGE, g), rtol=1e-13, atol=1e-10)


def test_libraries_cross_correlate_so_the_kernel_is_flipped():
    unflipped = cv2.filter2D(IMAGE, cv2.CV_64F, ASYMMETRIC, borderType=cv2.BORDER_CONSTANT)
    np.testing.assert_array_equal(correlate2d(IMAGE, ASYMMETRIC), unflipped)
    assert np.abs(convolve2d(IMAGE, ASYMMETRIC) - unflipped).max() > 100
    # The edge kernel is antisymmetric: flipping it only changes the sign of the response.
    edge = horizontal_edge_kernel(5)
    np.testing.assert_array_equal(correlate2d(IMAGE, edge), -convolve2d(IMAGE, edge))


def test_impulse_response_is_the_kernel_itself():
    impulse = np.zeros((9, 9))
    impulse[4, 4] = 1.0
    np.testing.assert_array_equal(convolve2d(impulse, ASYMMETRIC)[2:7, 2:7], ASYMMETRIC)
    np.testing.assert_array_equal(correlate2d(impulse, ASYMMETRIC)[2:7, 2:7], np.flip(ASYMMETRIC))


def test_borders_zero_and_reflect():
    ones = np.ones((6, 7))
    box = np.ones((3, 3))
    zero = convolve2d(ones, box, "zero")
    assert zero[0, 0] == 4 and zero[0, 3] == 6 and zero[3, 3] == 9  # corner, edge, interior taps inside
    np.testing.assert_array_equal(convolve2d(ones, box, "reflect"), 9.0)  # mirrored pixels are ones too
    assert np.abs(convolve2d(IMAGE, ASYMMETRIC, "zero") - convolve2d(IMAGE, ASYMMETRIC, "reflect"))[2:-2, 2:-2].max() == 0


def test_output_keeps_the_input_size_and_uint8_input_is_exact():
    scan = RNG.integers(0, 256, (16, 12)).astype(np.uint8)
    out = convolve2d(scan, sharpen_kernel(3))
    assert out.shape == scan.shape and out.dtype == np.float64
    np.testing.assert_array_equal(out, convolve2d(scan.astype(np.float64), sharpen_kernel(3)))


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="odd side"):
        convolve2d(IMAGE, np.ones((4, 4)))
    with pytest.raises(ValueError, match="one 2-D grey channel"):
        convolve2d(np.zeros((4, 4, 3)), np.ones((3, 3)))
    with pytest.raises(ValueError, match="unknown border 'wrap'"):
        convolve2d(IMAGE, np.ones((3, 3)), border="wrap")
    with pytest.raises(ValueError, match="positive odd number"):
        gaussian_kernel(4)


def test_rescale_for_display():
    np.testing.assert_array_equal(rescale_for_display(np.array([[-4.0, 0.0, 4.0]])), [[0, 0.5, 1]])
    np.testing.assert_array_equal(rescale_for_display(np.full((2, 2), 7.0)), 0.0)


def test_comparison_rows_show_exact_agreement_and_the_cost_of_the_flip():
    kernels = {"edge": horizontal_edge_kernel(5), "sharpen": sharpen_kernel(3)}
    rows = {row["kernel"]: row for row in compare_with_libraries(IMAGE, kernels)}
    for row in rows.values():
        assert row["cv2.filter2D (flipped, zero border)"] == 0
        assert row["cv2.filter2D (flipped, reflect border)"] == 0
        assert row["tf.nn.conv2d (flipped, SAME)"] == 0
        assert row["zero vs reflect border"] > 0
    # antisymmetric edge kernel: forgetting the flip negates the output; symmetric sharpen: no effect
    assert rows["edge"]["cv2.filter2D, kernel not flipped"] == 2 * rows["edge"]["largest absolute output"]
    assert rows["sharpen"]["cv2.filter2D, kernel not flipped"] == 0
    outputs = library_outputs(IMAGE, ASYMMETRIC)
    np.testing.assert_array_equal(outputs["cv2.filter2D, not flipped"], correlate2d(IMAGE, ASYMMETRIC))


def test_example_scans_picks_the_first_training_scan_of_each_class_at_full_size(tmp_path):
    for label, shapes in {"glioma": [(40, 30), (20, 20)], "pituitary": [(24, 24)]}.items():
        folder = tmp_path / "Training" / label
        folder.mkdir(parents=True)
        for k, shape in enumerate(shapes):
            cv2.imwrite(str(folder / f"{k}.png"), np.full(shape, 100 + k, np.uint8))
    scans = example_scans(tmp_path, classes=("glioma", "pituitary"))
    path, pixels = scans["glioma"]
    assert path == "Training/glioma/0.png" and pixels.shape == (40, 40) and pixels.dtype == np.uint8
    assert pixels[20, 20] == 100 and pixels[20, 0] == 0  # padded to a square with black
    with pytest.raises(ValueError, match="no training scan of class 'meningioma'"):
        example_scans(tmp_path, classes=("meningioma",))


def test_figures_have_one_panel_per_scan_and_kernel():
    from brainmri.plots.convolution import plot_against_references, plot_filtered, plot_kernels

    kernels = {"edge": horizontal_edge_kernel(5), "sharpen": sharpen_kernel(3)}
    scans = {"a": IMAGE, "b": IMAGE[::-1]}
    filtered = {label: {name: convolve2d(image, k) for name, k in kernels.items()} for label, image in scans.items()}
    assert len(plot_kernels(kernels).axes) == 2
    assert len(plot_filtered(scans, filtered).axes) == 2 * 3
    figure = plot_against_references(library_outputs(IMAGE, ASYMMETRIC), reference="hand-written")
    titles = [ax.get_title() for ax in figure.axes]
    assert "|difference from hand-written|\nmax 0" in titles and len(titles) == 8
