"""Notebook 09's conclusions as Markdown, every number read from its saved results."""

from __future__ import annotations

from brainmri.latent.edits import control_verdict
from brainmri.latent.scorecard import TARGETS, verdict


def _rate(row: dict) -> str:
    """``"40% (6 of 15; 95% interval 20%-64%)"``, or a plain statement when nothing was kept."""
    if not row["kept"]:
        return "no rate (no edit kept)"
    low, high = row["wilson_95"]["low"], row["wilson_95"]["high"]
    return f"{row['flip_rate']:.0%} ({row['flips']} of {row['kept']}; 95% interval {low:.0%}-{high:.0%})"


def _target(key: str, value: float) -> str:
    return verdict(value, *TARGETS[key])


def _selection(tumour: dict) -> str:
    """What the selection scans said at each strength tried, and whether the strength was a choice
    or the tie rule's default (no strength flipped any kept selection edit)."""
    if not tumour["selection_curve"]:
        return f"no edit could be tried there, so a = {tumour['strength']:g} is the default (the smallest), not a choice"
    curve = ", ".join(f"a = {row['strength']:g}: {row['flips']} of {row['kept']}" for row in tumour["selection_curve"])
    if tumour["chosen_by_tie_at_zero"]:
        return (f"kept edits flipped there per strength: {curve}. No strength flipped any, so a = {tumour['strength']:g} "
                "is the tie rule's default (the smallest), not a choice")
    return f"kept edits flipped there per strength: {curve}"


def protocol_markdown(record: dict) -> str:
    """The edit protocol, its null controls and KID, with the verdict on each target."""
    protocol, kid = record["protocol"], record["kid"]
    tumour, nulls = protocol["tumour_vector"], protocol["nulls"]
    families = "; ".join(f"{name}: {family['p95']:.0%}" for name, family in nulls.items())
    return f"""
**The edit protocol.** Every healthy validation scan ({protocol["n_scored"]}; the judge calls {protocol["base_healthy"]} of
their unedited decodings healthy) is moved by the tumour vector at a = {tumour["strength"]:g}, the strength chosen
beforehand on {protocol["n_select"]} healthy training scans ({protocol["select_healthy"]} of whose decodings the judge calls healthy;
{_selection(tumour)}). Among the edits that start healthy and keep SSIM >= {protocol["ssim_floor"]:g}
to the unedited decoding, the judge calls {_rate(tumour)} tumour: {_target("flip_rate_at_ssim_0_8", tumour["flip_rate"])}.
The controls, each through the same protocol at the tumour vector's length, reach a 95th percentile of
{protocol["null_p95"]:.0%} ({families}): {_target("flip_rate_null_p95", protocol["null_p95"])}. In the judge's feature space the
edits bring healthy decodings {kid["drop_fraction"]:.0%} closer to reconstructed tumour scans (KID
{kid["kid_unedited"]:.4f} -> {kid["kid_edited"]:.4f}): {_target("kid_drop_fraction", kid["drop_fraction"])}.
{local_markdown(record)}"""


def local_markdown(record: dict) -> str:
    """The local tumour vector under the same protocol, against its controls: local noise on the
    same cells and the same recipe on shuffled labels."""
    local, kid = record["local_protocol"], record["local_kid"]
    tumour, nulls = local["tumour_vector"], local["nulls"]
    verdict = {"kept no edit": "with no edit kept it has nothing to compare", "beats its controls": "it beats both",
               "does not beat its controls": "it does not beat its controls, so its flips say that a large local change "
                                             "looks like a lesion to the judge, not that the vector carries one",
               }[control_verdict(tumour, nulls)]
    return f"""
**A local tumour vector** (the tumours' mean deviation around their position, at the global vector's length) flips
{_rate(tumour)} at a = {tumour["strength"]:g}. Random directions on the same cells reach a 95th percentile of
{nulls["random direction"]["p95"]:.0%} (median {nulls["random direction"]["median"]:.0%}), the recipe on shuffled labels
{nulls["shuffled labels"]["p95"]:.0%}: {verdict}.
Its edits come {kid["drop_fraction"]:.0%} closer to reconstructed tumour scans (KID).
"""


def guesses_markdown(record: dict) -> str:
    """The three guesses of the original experiment, redesigned, each with its numbers."""
    vectors, adjustment, gap = record["vectors"], record["nuisance_adjustment"], record["shape_gap_data"]
    largest = max(adjustment["cosine_with_naive"].items(), key=lambda item: abs(item[1]))
    widest = max(gap, key=lambda name: abs(gap[name]["cohens_d"]))
    area, readout = record["area_study"], record["position_readout_phantom"]
    pp, pr, explainer = record["position_phantom"]["mean"], record["position_real"]["mean"], record["explainer"]
    best = max(record["conditional_edits"], key=lambda k: record["best"][k]["flip_rate"])

    def enrichment(mean, key):
        low, high = mean[f"enrichment_{key}_95"]
        return f"{mean[f'enrichment_{key}']:.2f} ({low:.2f}-{high:.2f})"
    grows = "grows" if area["spearman_changed_area"] > 0.5 else "does not grow clearly"
    brightness = "" if widest == "brightness" else f"; brightness {gap['brightness']['cohens_d']:+.2f}"
    return f"""
**Shape and source (guess 3).** In the data, tumour and healthy heads differ most in {widest.replace("_", " ")}
(Cohen's d {gap[widest]["cohens_d"]:+.2f}{brightness}). With the directions of brightness, contrast,
view (left-right symmetry) and shape projected out, {adjustment["norm_left"]:.0%} of the tumour vector's length is
left (the nuisance most aligned with it: {largest[0]}, cosine {largest[1]:+.2f}). Flip rates under the protocol: naive
{_rate(vectors["v (naive)"])}; shape-matched {_rate(vectors["v (shape-matched)"])}; nuisances projected out
{_rate(vectors["v (nuisances projected out)"])}.

**Labels (guess 1).** The conditional VAE's label switch flips up to {record["best"][best]["flip_rate"]:.0%} ({best}, SSIM
{record["best"][best]["ssim"]:.2f}; counted as in the original curves, not under the protocol). Conditioned on a continuous
attribute instead, the phantom's tumour area: the code predicts it with cross-validated R^2 {area["area_r2"]:.2f}, and the
changed area of an edit {grows} with the tumours' area across {len(area["bins"])} bins (Spearman
{area["spearman_changed_area"]:+.2f}; mean change {area["spearman_mean_abs_change"]:+.2f}).

**Position (guess 2).** Positive control on the phantom: a ridge regression reads the tumour's centroid from z with
cross-validated R^2 {readout["r2"]:.2f} ({readout["n"]} tumour scans): {_target("position_r2_phantom", readout["r2"])}. The change of an
edit, per unit of area, is {enrichment(pp, "group_vector")} times as dense inside the group's tumour region as on average for
per-location vectors and {enrichment(pp, "global_vector")} for the global vector (1 = chance; 95% bootstrap intervals).
On real scans grouped by {explainer["method"]} at {explainer["layer"]} ({explainer["source"]}): {enrichment(pr, "group_vector")}
against {enrichment(pr, "global_vector")}.
"""


def findings_markdown(record: dict, *, judge: str, judge_accuracy: float) -> str:
    """Notebook 09's conclusions as Markdown, every number read from ``record`` (the saved results);
    ``judge`` names the classifier whose verdicts the flip rates count, ``judge_accuracy`` is the
    validation accuracy (on the undecoded scans) of the classifier it was made from."""
    return (f"\nThe judge is {judge}; the classifier it comes from has validation accuracy {judge_accuracy:.3f} on"
            " the scans themselves.\n"
            + protocol_markdown(record) + guesses_markdown(record))


def ascent_markdown(summary: dict, collapse: dict) -> str:
    """Notebook 08's result: how high each ascent climbed, and whether it collapsed (final codes'
    norms against typical codes, diversity, likeness to the decoded mean image)."""
    free, held, pixel = summary["latent"], summary["latent + prior"], summary["pixel space"]
    c = collapse["latent + prior"]
    collapsed = c["norm_ratio"] < 0.5 or c["like_mean_image"] > c["n_starts"] // 2
    reading = ("the ends are the average head over again (the ascent, or the decoder, collapsed), so their P(tumour) "
               "says nothing about tumours" if collapsed else "no collapse onto the average head")
    return f"""
**Result.** Latent ascent raised P(tumour) from {free["p_start"]:.2f} to {free["p_end"]:.2f} (|z| {free["z_norm_start"]:.1f} ->
{free["z_norm_end"]:.1f}); with the prior term to {held["p_end"]:.2f}. With the prior term the final codes have
{c["norm_ratio"]:.2f} times the typical norm of encoded scans ({c["typical_norm"]:.2f}); their images lie {c["image_diversity_end"]:.3f}
RMS apart (starts: {c["image_diversity_start"]:.3f}), and {c["like_mean_image"]} of {c["n_starts"]} have SSIM >= 0.9 to the decoded mean
code (mean SSIM {c["ssim_to_mean_image_mean"]:.2f}): {reading}. Pixel-space ascent reached {pixel["p_end"]:.2f} with a
mean pixel change of {pixel["pixel_change"]:.3f}; its images' SSIM to their own VAE reconstruction is {pixel["self_ssim"]:.2f}
against {held["self_ssim"]:.2f} for the latent ascent with prior, and the independent latent probe gives them P(tumour)
{pixel["probe_p_end"]:.2f} against {held["probe_p_end"]:.2f}.
"""


def _spread(row: dict, key: str) -> str:
    """``"0.640 +- 0.006"``, or the single value when there was one seed."""
    mean, sd = row[f"{key}_mean"], row[f"{key}_sd"]
    return f"{mean:.3f}" if row["seeds"] < 2 else f"{mean:.3f} +- {sd:.3f}"


def vae_markdown(summary: dict, verdicts: dict[str, str]) -> str:
    """Notebook 07's result, every number read from ``summary`` (its saved results): the VAE against
    PCA, the seed spread and the other latent shape, the probe, the judge on decodings; with the
    scorecard's ``verdicts`` on the targets this notebook measures."""
    ssim, head, judged = summary["val_ssim"], summary["val_ssim_head"], summary["judge"]
    original, tuned = judged["original on reconstructions"], judged["fine-tuned on reconstructions"]
    profile_kind, *others = summary["seed_spread"]
    alternatives = "; ".join(f"the {row['latent']} latent: SSIM {_spread(row, 'vae_val_ssim')}, in the head "
                             f"{_spread(row, 'vae_val_ssim_head')}, over PCA {_spread(row, 'margin_over_pca')}"
                             for row in others)
    against_pca = "beats" if ssim["VAE"] > ssim["PCA"] else "falls short of"
    mine = ("vae_val_ssim", "vae_val_ssim_head", "vae_ssim_over_pca", "judge_auc_on_reconstructions",
            "decoded_healthy_mean_p_tumour")
    return f"""
**Result.** On validation the VAE {against_pca} PCA on SSIM ({ssim["VAE"]:.3f} vs {ssim["PCA"]:.3f} over the whole image,
{head["VAE"]:.3f} vs {head["PCA"]:.3f} inside the head; {summary["latent_dim"]} dimensions each), its codes paying
{summary["val_kl"]:.0f} nats. Over {profile_kind["seeds"]} seeds the {profile_kind["latent"]} latent gives SSIM
{_spread(profile_kind, "vae_val_ssim")} (head {_spread(profile_kind, "vae_val_ssim_head")}; over PCA
{_spread(profile_kind, "margin_over_pca")}){"; " + alternatives if alternatives else ""}. A linear probe on the latent means
separates tumour from healthy with AUC {summary["probe_vae"]["auc"]:.3f} (PCA codes: {summary["probe_pca"]["auc"]:.3f}).
On reconstructions the original classifier reaches AUC {original["tumour_auc"]:.3f} and calls decoded healthy scans
tumour with mean P {original["healthy_mean_p_tumour"]:.2f}; fine-tuned on reconstructions, AUC {tuned["tumour_auc"]:.3f}
and mean P {tuned["healthy_mean_p_tumour"]:.2f}. Targets: {", ".join(f"{key} {verdicts[key]}" for key in mine)}.
"""
