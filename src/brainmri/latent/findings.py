"""Notebook 09's conclusions as Markdown, every number read from its saved results."""

from __future__ import annotations

from brainmri.latent.edits import EDIT_STEPS


def findings_markdown(record: dict, *, judge: str, judge_accuracy: float) -> str:
    """Notebook 09's conclusions as Markdown, every number read from ``record`` (the saved results).

    ``record`` holds the curves' best steps (``best``), the shape change at them
    (``shape_shift_at_best``), the edits, walks and position experiments; ``judge`` names the
    classifier run whose verdicts the flip rates count.
    """
    best, shift = record["best"], record["shape_shift_at_best"]
    naive, matched = best["v (naive)"], best["v (shape-matched)"]
    walks, shape_gap = record["walks"], record["shape_gap_data"]
    reverse_healthy = [1 - f for f in record["reverse_edit"]["tumour_rate"]]
    conditional = max(record["conditional_edits"], key=lambda k: best[k]["flip_rate"])
    pp, pr = record["position_phantom"]["mean"], record["position_real_gradcam"]["mean"]
    return f"""
The judge is the shared classifier ({judge}, validation accuracy {judge_accuracy:.3f} on real scans; its
verdicts on VAE decodings inherit its errors).

**The original edit.** Unedited (a = 0), the classifier already calls {record["naive_edit"]["tumour_rate"][0]:.0%} of the
healthy reconstructions tumour; of the rest, adding a·v flips at most {naive["flip_rate"]:.0%}
(at a = {naive["steps"]:g}, SSIM to the unedited decoding {naive["ssim"]:.2f}). The reverse edit, tumour - a·v,
gets {reverse_healthy[-1]:.0%} of tumour scans called healthy at a = {EDIT_STEPS[-1]:g} (from {reverse_healthy[0]:.0%}).
Along the naive edit (up to the best a) the head's area changes by {shift["v (naive)"]["area"]:+.3f}, its aspect
ratio by {shift["v (naive)"]["aspect_ratio"]:+.3f} and its brightness by {shift["v (naive)"]["brightness"]:+.3f}.
Walking healthy -> tumour, P(tumour) goes from {walks["slerp"]["p_tumour"][0]:.2f} to {walks["slerp"]["p_tumour"][-1]:.2f}
(slerp) and {walks["lerp"]["p_tumour"][0]:.2f} to {walks["lerp"]["p_tumour"][-1]:.2f} (lerp).

**Guess (3), shape.** In the data, tumour heads differ from healthy ones by Cohen's d
{shape_gap["aspect_ratio"]["cohens_d"]:+.2f} in aspect ratio and {shape_gap["circularity"]["cohens_d"]:+.2f} in circularity.
The shape-matched vector flips {matched["flip_rate"]:.0%} (naive: {naive["flip_rate"]:.0%}) and changes aspect
ratio by {shift["v (shape-matched)"]["aspect_ratio"]:+.3f} (naive: {shift["v (naive)"]["aspect_ratio"]:+.3f}).

**Guess (1), labels.** The conditional VAE's label switch flips up to {best[conditional]["flip_rate"]:.0%}
({conditional}, SSIM {best[conditional]["ssim"]:.2f}) against {naive["flip_rate"]:.0%} for the vector.

**Guess (2), position.** On the phantom, the change lands {pp["distance_group_vector"]:.3f} (per-location
vectors) vs {pp["distance_global_vector"]:.3f} (global vector) from the group's tumours (fractions of the
side), with {pp["inside_group_vector"]:.0%} vs {pp["inside_global_vector"]:.0%} of it inside their region (area
{pp["region_area"]:.0%}). On real scans grouped by Grad-CAM peak: {pr["distance_group_vector"]:.3f} vs
{pr["distance_global_vector"]:.3f}.
"""

