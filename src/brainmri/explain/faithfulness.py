"""Is a saliency map faithful to the model? Perturb the pixels it ranks highest and watch the probability.

- Deletion (Petsiuk et al. 2018, RISE): blank the most salient pixels first (to 0, the black of
  the MRI background); a faithful map makes the class probability fall fast (low AUC is good).
- Insertion: start from a heavily blurred copy and restore the most salient pixels first; the
  probability should rise fast (high AUC is good).
- Average drop and increase in confidence (Chattopadhyay et al. 2018): show the model the image
  multiplied by the map; a faithful map keeps the class probability (low drop; the share of
  images whose probability even increases is reported too).

A number means little alone, so every map is scored next to two baselines computed in the same
run: a random map (smooth noise at the resolution of a class activation map) and a centred
Gaussian (brains sit in the middle of the frame, so "look at the centre" is a strong cheat).

All curves are computed for a batch at once: one forward pass per step for every image.

Why not a library: Quantus (0.6.0, the current release) was tried first. Its TensorFlow extra pins
tensorflow<2.16, keras<3 and numpy<2, it requires opencv-python beside our opencv-python-headless,
and it has no insertion curve or average drop. The measures are small enough to write and test here.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import keras
import numpy as np
import tensorflow as tf

from brainmri.config import SEED
from brainmri.explain.gradcam import (CAM, EXPLAINERS, GradCAM, GradCAMPlusPlus, block_outputs, heatmaps_in_batches,
                                      upsample_and_normalise)
from brainmri.stats import paired_difference_interval

DEFAULT_STEPS = 10  # 10% of the pixels per step: 2 x 11 forward passes per map


# ----------------------------------------------------------------------------- baseline maps


def random_maps(n: int, size: tuple[int, int], *, grid: int = 8, seed: int = SEED) -> np.ndarray:
    """(n, H, W) smooth random maps in [0, 1]: uniform noise on a ``grid`` x ``grid`` lattice, upsampled.

    Noise at the resolution of a class activation map is a fairer baseline than pixel noise:
    deleting scattered single pixels barely changes a scan, which would flatter any real map.
    """
    coarse = np.random.default_rng(seed).uniform(size=(n, grid, grid)).astype(np.float32)
    return upsample_and_normalise(coarse, size)


def gaussian_maps(n: int, size: tuple[int, int], *, sigma_fraction: float = 0.25) -> np.ndarray:
    """(n, H, W) copies of a centred Gaussian with standard deviation ``sigma_fraction`` of each side."""
    h, w = size
    ys = (np.arange(h) - (h - 1) / 2) / (sigma_fraction * h)
    xs = (np.arange(w) - (w - 1) / 2) / (sigma_fraction * w)
    bump = np.exp(-0.5 * (ys[:, None] ** 2 + xs[None, :] ** 2)).astype(np.float32)
    bump = (bump - bump.min()) / (bump.max() - bump.min())
    return np.repeat(bump[None], n, axis=0)


# ----------------------------------------------------------------------------- model scores


def class_probability(model: keras.Model, images: np.ndarray, class_index: np.ndarray, *, batch_size: int = 64) -> np.ndarray:
    """P(class_index[i] | images[i]); a single sigmoid output counts as [1 - p, p]."""
    out = []
    for start in range(0, len(images), batch_size):
        probs = np.asarray(model(tf.constant(images[start : start + batch_size]), training=False))
        if probs.shape[-1] == 1:
            probs = np.concatenate([1 - probs, probs], axis=-1)
        out.append(probs[np.arange(len(probs)), class_index[start : start + batch_size]])
    return np.concatenate(out)


def _check(images: np.ndarray, heatmaps: np.ndarray, class_index) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    images = np.asarray(images, dtype=np.float32)
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    if images.ndim != 4 or heatmaps.shape != images.shape[:3]:
        raise ValueError(
            f"images must be (B, H, W, C) and heatmaps (B, H, W) of the same B, H, W; "
            f"got {images.shape} and {heatmaps.shape}"
        )
    class_index = np.broadcast_to(np.asarray(class_index, dtype=np.int64), (len(images),))
    return images, heatmaps, class_index


def saliency_ranks(heatmaps: np.ndarray, *, seed: int = SEED) -> np.ndarray:
    """(B, H, W) rank of each pixel, 0 = most salient. Ties (flat zero regions) are broken at random,
    not in raster order, which would delete the top rows first."""
    b, h, w = heatmaps.shape
    jitter = np.random.default_rng(seed).uniform(size=(b, h * w))
    order = np.lexsort((jitter, -heatmaps.reshape(b, -1)), axis=-1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(h * w)[None].repeat(b, 0), axis=-1)
    return ranks.reshape(b, h, w)


def blurred(images: np.ndarray, *, sigma_fraction: float = 0.1) -> np.ndarray:
    """The insertion start: each image under a Gaussian blur with sigma a tenth of its side."""
    sigma = sigma_fraction * images.shape[1]
    out = np.stack([cv2.GaussianBlur(img, (0, 0), sigma) for img in images])
    return out.reshape(images.shape).astype(np.float32)


@dataclass
class Curve:
    fractions: np.ndarray  # (steps + 1,) share of pixels deleted or inserted
    probabilities: np.ndarray  # (B, steps + 1)

    @property
    def auc(self) -> np.ndarray:
        """(B,) area under each image's curve (fractions run from 0 to 1)."""
        heights = (self.probabilities[:, 1:] + self.probabilities[:, :-1]) / 2
        return (heights * np.diff(self.fractions)).sum(axis=-1)


def perturbation_curve(
    model: keras.Model, images, heatmaps, class_index, *, mode: str = "deletion",
    steps: int = DEFAULT_STEPS, seed: int = SEED,
) -> Curve:
    """Deletion or insertion curve of the class probability, most salient pixels first."""
    if mode not in ("deletion", "insertion"):
        raise ValueError(f"mode must be 'deletion' or 'insertion', got {mode!r}")
    images, heatmaps, class_index = _check(images, heatmaps, class_index)
    ranks = saliency_ranks(heatmaps, seed=seed)[..., None]
    start, end = (images, np.zeros_like(images)) if mode == "deletion" else (blurred(images), images)
    pixels = ranks[0].size
    fractions = np.linspace(0, 1, steps + 1)
    probabilities = []
    for fraction in fractions:
        changed = ranks < round(fraction * pixels)
        probabilities.append(class_probability(model, np.where(changed, end, start), class_index))
    return Curve(fractions, np.stack(probabilities, axis=1))


def average_drop_and_increase(model: keras.Model, images, heatmaps, class_index) -> tuple[float, float]:
    """Average drop (%) and increase in confidence (% of images) when the model sees image x map."""
    images, heatmaps, class_index = _check(images, heatmaps, class_index)
    original = class_probability(model, images, class_index)
    masked = class_probability(model, images * heatmaps[..., None], class_index)
    drop = np.maximum(0.0, original - masked) / np.maximum(original, 1e-12)
    return float(100 * drop.mean()), float(100 * np.mean(masked > original))


def faithfulness_table(
    model: keras.Model, images, maps: dict[str, np.ndarray], class_index, *, steps: int = DEFAULT_STEPS,
) -> tuple[list[dict], dict[str, dict[str, Curve]]]:
    """Score every map in ``maps`` (name -> (B, H, W)) on the same images and classes.

    Returns one row per map (means over images) and the curves, for plotting.
    """
    rows, curves = [], {}
    for name, heatmaps in maps.items():
        deletion = perturbation_curve(model, images, heatmaps, class_index, mode="deletion", steps=steps)
        insertion = perturbation_curve(model, images, heatmaps, class_index, mode="insertion", steps=steps)
        drop, increase = average_drop_and_increase(model, images, heatmaps, class_index)
        curves[name] = {"deletion": deletion, "insertion": insertion}
        rows.append({
            "map": name,
            "deletion_auc": float(deletion.auc.mean()),
            "insertion_auc": float(insertion.auc.mean()),
            "average_drop_pct": drop,
            "increase_in_confidence_pct": increase,
        })
    return rows, curves


BASELINES = ("random", "centred Gaussian")


def baseline_maps(n: int, size: tuple[int, int]) -> dict[str, np.ndarray]:
    """The two maps every explainer is compared with, by their names in :data:`BASELINES`."""
    return dict(zip(BASELINES, (random_maps(n, size), gaussian_maps(n, size))))


def localization_maps(model: keras.Model, images: np.ndarray, class_index, chosen: dict) -> dict[str, np.ndarray]:
    """Every map that is scored against known tumour masks, for ``class_index``: Grad-CAM, Grad-CAM++
    and CAM at the automatic (last) layer, Grad-CAM at each earlier block output (finer, less
    class-specific), the ``chosen`` map (a row of :func:`rank_explainers`: its method at its layer)
    and the :func:`baseline_maps`."""
    maps = {e.name: heatmaps_in_batches(e, images, class_index) for e in (GradCAM(model), GradCAMPlusPlus(model), CAM(model))}
    for layer in block_outputs(model)[:-1]:
        maps[f"Grad-CAM @ {layer}"] = heatmaps_in_batches(GradCAM(model, layer=layer), images, class_index)
    explainer = EXPLAINERS[chosen["method"]](model, layer=chosen["layer"])
    maps[chosen["map"]] = heatmaps_in_batches(explainer, images, class_index)
    return maps | baseline_maps(len(images), images.shape[1:3])


def rank_explainers(
    model: keras.Model, images, class_index, layers: list[str], *, explainers=(GradCAM,),
    steps: int = DEFAULT_STEPS,
) -> list[dict]:
    """Score every explainer class at every one of ``layers`` next to the baselines, best first.

    Each row names its ``map`` (``"Grad-CAM++ @ stage1_block1_out"``), ``method`` and ``layer``,
    and counts the ``measures_beating_baselines`` (of the four, those on which it beats the random
    and the centred-Gaussian map scored on the same images). Rows are ordered by that count, then
    by insertion AUC minus deletion AUC: the bar is to beat both baselines on every measure, and
    among the maps that clear it the one that separates insertion from deletion most wins.

    The automatic target layer (the last block) is the coarsest: at 128 px a residual CNN's last
    maps are 4x4 or 8x8, so upsampled they are blobs that differ little from a centred Gaussian.
    Earlier blocks see less context but place it more finely, and Grad-CAM++ weights locations
    where plain Grad-CAM averages them away. Which is most faithful is an empirical question,
    answered here by the same deletion and insertion curves. Rank on scans that are *not* scored
    afterwards: a choice made on the scored scans would flatter itself.
    """
    if not layers or not explainers:
        raise ValueError("rank_explainers needs at least one layer name and one explainer")
    images, _, class_index = _check(images, np.zeros(np.shape(images)[:3], np.float32), class_index)
    maps, where = {}, {}
    for explainer in explainers:
        for layer in layers:
            name = f"{explainer.name} @ {layer}"
            maps[name] = heatmaps_in_batches(explainer(model, layer=layer), images, class_index)
            where[name] = (explainer.name, layer)
    maps.update(baseline_maps(len(images), images.shape[1:3]))
    rows, _ = faithfulness_table(model, images, maps, class_index, steps=steps)
    ranked = [{"map": row["map"], "method": where[row["map"]][0], "layer": where[row["map"]][1],
               **{k: v for k, v in row.items() if k != "map"},
               "insertion_minus_deletion": row["insertion_auc"] - row["deletion_auc"],
               "measures_beating_baselines": sum(beats(rows, row["map"], BASELINES).values())}
              for row in rows if row["map"] in where]
    return sorted(ranked, key=lambda row: (-row["measures_beating_baselines"], -row["insertion_minus_deletion"]))


def auc_differences(curves: dict[str, dict[str, Curve]], name: str, baselines: tuple[str, ...] = BASELINES,
                    **interval) -> list[dict]:
    """Per-scan deletion and insertion AUC of map ``name`` minus each baseline's, with bootstrap intervals.

    Signs are turned so that a positive difference always favours ``name`` (lower deletion AUC,
    higher insertion AUC): an interval above zero means it wins on a fresh draw of scans too.
    """
    rows = []
    for baseline in baselines:
        for mode, sign in (("deletion", -1.0), ("insertion", 1.0)):
            mean, low, high = paired_difference_interval(
                sign * curves[name][mode].auc, sign * curves[baseline][mode].auc, **interval)
            rows.append({"vs": baseline, "measure": f"{mode}_auc", "advantage": mean, "low": low, "high": high})
    return rows


def beats(rows: list[dict], method: str, baselines: tuple[str, ...]) -> dict[str, bool]:
    """Whether ``method`` is better than every baseline on each metric (lower deletion AUC and drop,
    higher insertion AUC and increase)."""
    by_name = {row["map"]: row for row in rows}
    m = by_name[method]
    others = [by_name[b] for b in baselines]
    return {
        "deletion_auc": all(m["deletion_auc"] < o["deletion_auc"] for o in others),
        "insertion_auc": all(m["insertion_auc"] > o["insertion_auc"] for o in others),
        "average_drop_pct": all(m["average_drop_pct"] < o["average_drop_pct"] for o in others),
        "increase_in_confidence_pct": all(m["increase_in_confidence_pct"] > o["increase_in_confidence_pct"] for o in others),
    }


@dataclass
class ChosenMapReport:
    """The map chosen by :func:`rank_explainers`, scored on other scans next to the fixed explainers and baselines."""

    chosen: dict  # the winning row of rank_explainers: map, method, layer
    rows: list[dict]  # faithfulness_table rows: every map and both baselines
    curves: dict[str, dict[str, Curve]]
    wins: dict[str, dict[str, bool]]  # per explainer (not baseline): measure -> beats both baselines
    differences: list[dict]  # auc_differences of the chosen map against each baseline
    cam_equals_grad_cam: bool

    def summary(self) -> dict:
        """What notebook 05 saves of this report (the README reads these keys)."""
        won = self.wins[self.chosen["map"]]
        return {
            "n_scans": len(self.curves["Grad-CAM"]["deletion"].probabilities),
            "chosen_map": self.chosen["map"], "chosen_method": self.chosen["method"],
            "chosen_layer": self.chosen["layer"], "steps": len(self.curves["Grad-CAM"]["deletion"].fractions) - 1,
            "cam_equals_grad_cam": self.cam_equals_grad_cam, "rows": self.rows, "beats_both_baselines": self.wins,
            "chosen_beats_both_on_every_measure": all(won.values()),
            "chosen_beats_both_on": ", ".join(m for m, ok in won.items() if ok) or "none",
            "chosen_does_not_beat_both_on": ", ".join(m for m, ok in won.items() if not ok) or "none",
            "chosen_auc_advantage": self.differences,
            "chosen_auc_advantage_above_zero": all(row["low"] > 0 for row in self.differences),
        }


def score_chosen_map(model: keras.Model, images: np.ndarray, class_index: np.ndarray, chosen: dict,
                     explainers: list, *, cam_tolerance: float = 1e-4) -> ChosenMapReport:
    """Score ``explainers`` (built for ``model``), the ``chosen`` map and both baselines on ``images``.

    With global average pooling straight into the dense head, CAM equals Grad-CAM up to a constant;
    when their maps agree within ``cam_tolerance`` CAM is scored once, as Grad-CAM.
    """
    maps = {e.name: heatmaps_in_batches(e, images, class_index) for e in explainers}
    cam_equals_grad_cam = "CAM" in maps and float(np.abs(maps["CAM"] - maps["Grad-CAM"]).max()) < cam_tolerance
    if cam_equals_grad_cam:
        del maps["CAM"]
    explainer = EXPLAINERS[chosen["method"]](model, layer=chosen["layer"])
    maps[chosen["map"]] = heatmaps_in_batches(explainer, images, class_index)
    maps.update(baseline_maps(len(images), images.shape[1:3]))
    rows, curves = faithfulness_table(model, images, maps, class_index)
    wins = {name: beats(rows, name, BASELINES) for name in maps if name not in BASELINES}
    return ChosenMapReport(chosen, rows, curves, wins, auc_differences(curves, chosen["map"]), cam_equals_grad_cam)
