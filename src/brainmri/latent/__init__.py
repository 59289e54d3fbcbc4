"""Experiments in a VAE's latent space, each with a number attached. One module per job:

- :mod:`~brainmri.latent.space`: encode to latent means, decode, class means, 2-D maps, the
  attribute vector ``mean(tumour) - mean(healthy)`` (global, or local on a spatial latent's grid), walks (lerp, slerp) and edits ``z + a * v``;
- :mod:`~brainmri.latent.judge`: the classifier's P(tumour) of decoded images (:class:`TumourScorer`);
- :mod:`~brainmri.latent.probe`: a linear probe on latent means and the encoder fine-tuned as a classifier;
- :mod:`~brainmri.latent.ascent`: gradient ascent to the "purest tumour", in latent and in pixel space;
- :mod:`~brainmri.latent.edits`: flip rate, SSIM and head shape along an edit, a walk or a label slide,
  and the edit protocol fixed in advance, with null controls and KID (:func:`edit_protocol`);
- the three guesses of the original experiment: position (:mod:`~brainmri.latent.position`, with the
  phantom's positive control), shape and source (:mod:`~brainmri.latent.shape_study`) and too few
  labels (the conditional VAE through :func:`label_edit_curve`, and a continuous attribute in
  :mod:`~brainmri.latent.labels_study`), summed up by :mod:`~brainmri.latent.findings`;
- :mod:`~brainmri.latent.scorecard`: ``results/generative_scorecard.json``, which notebooks 07-09 fill;
- :mod:`~brainmri.latent.context`: the setup notebooks 08 and 09 share (:func:`setup`).
"""

from brainmri.latent.ascent import (Trajectory, ascent_summary, collapse_diagnostics, latent_ascent, mean_pairwise_distance,
                                    pixel_ascent, reference_codes)
from brainmri.latent.context import LatentSetup, setup
from brainmri.latent.edits import (EDIT_STEPS, NULLS_PER_FAMILY, PROTOCOL_STRENGTHS, SSIM_FLOOR, best_step, compare_vectors,
                                   choose_strengths, control_verdict, edit_outcomes, edit_protocol, flip_counts, judge_features,
                                   kid_drop, label_edit_curve, measure, measure_curve, null_vectors, protocol_scores,
                                   selection_curve, shape_shift, strength_curves, vector_edit_curve, walk_curve)
from brainmri.latent.findings import ascent_markdown, findings_markdown, vae_markdown
from brainmri.latent.judge import TumourScorer, to_classifier_input
from brainmri.latent.labels_study import area_conditioned_edits, mask_areas
from brainmri.latent.position import (PositionStudy, explainer_regions, faithful_explainer, location_groups,
                                      mask_centroids, position_experiment, position_readout, region_enrichment)
from brainmri.latent.probe import binary_scores, encoder_classifier, finetune_encoder, fit_probe, linear_probe, ridge_readout
from brainmri.latent.scorecard import read_scorecard, update_scorecard, verdict
from brainmri.latent.shape_study import NUISANCES, nuisance_adjusted_vector, nuisance_table, shape_matched_vector
from brainmri.latent.space import (WALKS, attribute_vector, class_means, decode, edit, embed_2d, encode_means,
                                   latent_grid, lerp, local_attribute_vector, slerp, with_norm)
from brainmri.latent.vae_study import LatentKind, latent_kinds, profile_seeds, reconstruction_study, seed_spread
from brainmri.stats import bootstrap_interval, kernel_inception_distance, wilson_interval

__all__ = [
    "EDIT_STEPS", "LatentKind", "LatentSetup", "NUISANCES", "NULLS_PER_FAMILY", "PROTOCOL_STRENGTHS", "PositionStudy", "SSIM_FLOOR", "Trajectory",
    "TumourScorer", "WALKS", "area_conditioned_edits", "ascent_markdown", "ascent_summary", "attribute_vector",
    "best_step", "binary_scores", "bootstrap_interval", "choose_strengths", "class_means", "collapse_diagnostics", "compare_vectors",
    "control_verdict", "decode", "edit", "edit_outcomes", "edit_protocol", "embed_2d", "encode_means", "encoder_classifier",
    "explainer_regions", "faithful_explainer", "findings_markdown", "finetune_encoder", "fit_probe", "flip_counts",
    "judge_features", "kernel_inception_distance", "kid_drop", "label_edit_curve", "latent_ascent", "latent_grid",
    "latent_kinds", "lerp", "linear_probe", "local_attribute_vector", "location_groups", "mask_areas", "mask_centroids", "mean_pairwise_distance", "measure",
    "measure_curve", "nuisance_adjusted_vector", "nuisance_table", "null_vectors", "pixel_ascent",
    "position_experiment", "position_readout", "profile_seeds", "protocol_scores", "read_scorecard", "reconstruction_study", "reference_codes",
    "region_enrichment", "ridge_readout", "seed_spread", "selection_curve", "setup", "shape_matched_vector", "shape_shift",
    "slerp", "strength_curves", "to_classifier_input", "update_scorecard", "vae_markdown", "vector_edit_curve", "verdict", "walk_curve",
    "wilson_interval", "with_norm",
]
