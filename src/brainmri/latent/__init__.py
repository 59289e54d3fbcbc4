"""Experiments in a VAE's latent space, each with a number attached. One module per job:

- :mod:`~brainmri.latent.space`: encode to latent means, decode, class means, 2-D maps, the
  attribute vector ``mean(tumour) - mean(healthy)``, walks (lerp, slerp) and edits ``z + a * v``;
- :mod:`~brainmri.latent.judge`: the classifier's P(tumour) of decoded images (:class:`TumourScorer`);
- :mod:`~brainmri.latent.probe`: a linear probe on latent means and the encoder fine-tuned as a classifier;
- :mod:`~brainmri.latent.ascent`: gradient ascent to the "purest tumour", in latent and in pixel space;
- :mod:`~brainmri.latent.edits`: flip rate, SSIM and head shape along an edit, a walk or a label slide;
- the three guesses of the original experiment: position (:mod:`~brainmri.latent.position`), shape
  (:mod:`~brainmri.latent.shape_study`) and too few labels (the conditional VAE, through
  :func:`label_edit_curve`), summed up by :mod:`~brainmri.latent.findings`;
- :mod:`~brainmri.latent.context`: the setup notebooks 08 and 09 share (:func:`setup`).
"""

from brainmri.latent.ascent import Trajectory, ascent_summary, latent_ascent, pixel_ascent
from brainmri.latent.context import LatentSetup, setup
from brainmri.latent.edits import (EDIT_STEPS, best_step, label_edit_curve, measure, measure_curve, shape_shift,
                                   vector_edit_curve, walk_curve)
from brainmri.latent.findings import findings_markdown
from brainmri.latent.judge import TumourScorer, to_classifier_input
from brainmri.latent.position import (PositionStudy, gradcam_peaks, heatmap_peaks, location_groups, mask_centroids,
                                      position_experiment)
from brainmri.latent.probe import binary_scores, encoder_classifier, finetune_encoder, fit_probe, linear_probe
from brainmri.latent.shape_study import shape_matched_vector
from brainmri.latent.space import (WALKS, attribute_vector, class_means, decode, edit, embed_2d, encode_means,
                                   lerp, slerp)

__all__ = [
    "EDIT_STEPS", "WALKS", "LatentSetup", "PositionStudy", "Trajectory", "TumourScorer", "ascent_summary",
    "attribute_vector", "best_step", "binary_scores", "class_means", "decode", "edit", "embed_2d",
    "encode_means", "encoder_classifier", "findings_markdown", "finetune_encoder",
    "fit_probe", "gradcam_peaks", "heatmap_peaks", "label_edit_curve", "latent_ascent", "lerp", "linear_probe",
    "location_groups", "mask_centroids", "measure", "measure_curve", "pixel_ascent", "position_experiment",
    "setup", "shape_matched_vector", "shape_shift", "slerp", "to_classifier_input", "vector_edit_curve",
    "walk_curve",
]
