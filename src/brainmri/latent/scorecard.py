"""One scorecard for the generative notebooks: ``results/generative_scorecard.json``.

Notebooks 07, 08 and 09 each add the numbers they compute (:func:`update_scorecard` merges, so one
notebook never erases another's). Every number with a target gets a verdict computed from the value,
``"met"`` or ``"missed (target >= 0.70, got 0.53)"``, which the README prints as it stands.
"""

from __future__ import annotations

import json
import math

from brainmri import config
from brainmri.results import save_results

SCORECARD = "generative_scorecard"

# key: (comparison, target); vae_ssim_over_pca is derived from vae_val_ssim and pca_val_ssim
TARGETS: dict[str, tuple[str, float]] = {
    "vae_val_ssim": (">=", 0.70),
    "vae_val_ssim_head": (">=", 0.70),
    "vae_ssim_over_pca": (">=", 0.20),
    "judge_auc_on_reconstructions": (">=", 0.95),
    "decoded_healthy_mean_p_tumour": ("<=", 0.15),
    "flip_rate_at_ssim_0_8": (">=", 0.50),
    "flip_rate_null_p95": ("<=", 0.10),
    "kid_drop_fraction": (">=", 0.50),
    "position_r2_phantom": (">=", 0.50),
}
KEYS = ("vae_val_ssim", "vae_val_ssim_head", "pca_val_ssim", "judge_auc_on_reconstructions",
        "decoded_healthy_mean_p_tumour", "flip_rate_at_ssim_0_8", "flip_rate_null_p95", "kid_drop_fraction",
        "position_r2_phantom",
        # without a target: how far the ascent with the prior term ended from typical codes, and how
        # many of its final images are the decoded mean image over again
        "ascent_prior_norm_ratio", "ascent_prior_share_like_mean_image")


def verdict(value: float | None, comparison: str, target: float) -> str:
    """``"met"``, ``"missed (target >= 0.70, got 0.53)"``, or ``"not measured"`` for a missing or NaN value."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not measured"
    met = value >= target if comparison == ">=" else value <= target
    return "met" if met else f"missed (target {comparison} {target:.2f}, got {value:.2f})"


def verdicts(card: dict) -> dict[str, str]:
    """The verdict of every target, from the numbers in ``card``."""
    values = dict(card)
    if card.get("vae_val_ssim") is not None and card.get("pca_val_ssim") is not None:
        values["vae_ssim_over_pca"] = card["vae_val_ssim"] - card["pca_val_ssim"]
    return {key: verdict(values.get(key), *target) for key, target in TARGETS.items()}


def read_scorecard() -> dict:
    """The scorecard so far (empty when no notebook has written it yet)."""
    path = config.results_dir() / f"{SCORECARD}.json"
    return json.loads(path.read_text()) if path.exists() else {}


def update_scorecard(notebook: str, **values: float) -> dict:
    """Merge ``values`` (scorecard keys, see :data:`KEYS`) from ``notebook`` (e.g. "09") into the
    scorecard, recompute the verdicts and save it through :func:`brainmri.results.save_results`
    (which records the provenance). Keys written by other notebooks are kept; ``written_by``
    says which notebook wrote each number. Returns the saved record."""
    unknown = sorted(set(values) - set(KEYS))
    if unknown:
        raise ValueError(f"unknown scorecard keys {unknown}; the scorecard holds {list(KEYS)}")
    card = {key: value for key, value in read_scorecard().items() if key != "provenance"}
    numbers = {key: card.get(key) for key in KEYS}
    numbers.update({key: _finite_or_none(value) for key, value in values.items()})
    written_by = {**card.get("written_by", {}), **{key: notebook for key in values}}
    record = {**numbers, "vae_ssim_over_pca": _difference(numbers), "verdicts": verdicts(numbers),
              "targets": {key: f"{comparison} {target:.2f}" for key, (comparison, target) in TARGETS.items()},
              "written_by": written_by}
    save_results(SCORECARD, record)
    return read_scorecard()


def _finite_or_none(value) -> float | None:
    """A number as a float, or None when missing or NaN (JSON has no NaN)."""
    return None if value is None or not math.isfinite(float(value)) else float(value)


def _difference(numbers: dict) -> float | None:
    if numbers.get("vae_val_ssim") is None or numbers.get("pca_val_ssim") is None:
        return None
    return numbers["vae_val_ssim"] - numbers["pca_val_ssim"]
