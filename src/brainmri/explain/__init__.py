"""Explaining classifiers: class activation maps, how faithful they are, and where they point.

- :mod:`brainmri.explain.gradcam`: Grad-CAM, Grad-CAM++ (plain and noise-averaged) and CAM for a batch in one pass.
- :mod:`brainmri.explain.faithfulness`: deletion / insertion curves, average drop, increase in
  confidence, and the random and centred-Gaussian baseline maps they are compared against.
- :mod:`brainmri.explain.localization`: pointing game, IoU and Dice against known masks.
"""

from brainmri.explain.gradcam import (
    CAM,
    EXPLAINERS,
    ClassLogit,
    ClassProbability,
    Explainer,
    Explanation,
    GradCAM,
    GradCAMPlusPlus,
    SmoothGradCAMPlusPlus,
    find_target_layer,
    heatmaps_in_batches,
)

__all__ = [
    "CAM", "EXPLAINERS", "ClassLogit", "ClassProbability", "Explainer", "Explanation", "GradCAM",
    "GradCAMPlusPlus", "SmoothGradCAMPlusPlus", "find_target_layer", "heatmaps_in_batches",
]
