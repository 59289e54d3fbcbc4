"""The two-stage fine-tuning protocol for transfer classifiers, and how its results are reported.

Stage one trains the head on the frozen backbone; stage two unfreezes the backbone's last stage
(:func:`brainmri.models.transfer.unfreeze_last_stage`) and trains on at a lower learning rate.
Each stage is one run of :func:`brainmri.train.fit` with the classifier recipe (AdamW, cosine
decay, label smoothing, class weights, augmentation), at the stage's learning rate, no warm-up and
no BatchNorm re-estimation: the backbone's BatchNormalization layers stay frozen and in inference
mode, so a pass over the training scans could not change their statistics.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np

from brainmri import config, evaluate, train
from brainmri.models import transfer
from brainmri.train.registry import new_run_dir

STAGES = ("frozen", "fine_tuned")
HEADLINE = ("accuracy", "precision", "recall", "f1")


@dataclass(frozen=True)
class FineTuneRecipe:
    """What decides a two-stage fine-tuning run, besides the model and the data."""

    epochs: int = 3  # per stage: the fine-tuned model has seen twice as many
    head_lr: float = 1e-3
    finetune_lr: float = 1e-4
    batch_size: int = 32
    seed: int = config.SEED

    def __post_init__(self):
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive, got {self}")
        if not (self.head_lr > 0 and self.finetune_lr > 0):
            raise ValueError(f"learning rates must be positive, got {self}")

    @classmethod
    def from_profile(cls, profile: config.Profile | None = None) -> FineTuneRecipe:
        """Epochs per stage (``transfer_epochs``) and batch size from the profile."""
        profile = profile or config.get_profile()
        return cls(epochs=profile.transfer_epochs, batch_size=profile.batch_size)

    def learning_rate(self, stage: str) -> float:
        return {"frozen": self.head_lr, "fine_tuned": self.finetune_lr}[stage]

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)


@dataclass
class StageResult:
    """One stage of :func:`two_stage_fit`: its history, epoch times, parameter counts and validation scores."""

    history: dict[str, list[float]]
    epoch_seconds: list[float]
    parameters: dict[str, int]
    scores: dict[str, object]  # brainmri.evaluate.evaluate_model on the validation split

    @property
    def seconds_per_epoch(self) -> float:
        """Median epoch time (the first epoch also traces the graph)."""
        return float(np.median(self.epoch_seconds))


def stage_recipe(model: keras.Model, recipe: FineTuneRecipe, stage: str) -> train.Recipe:
    """The classifier recipe for one stage: the stage's learning rate, no warm-up, no BatchNorm re-estimation."""
    return train.Recipe(
        task="binary" if model.output_shape[-1] == 1 else "multiclass", arch=transfer.arch_of(model),
        image_size=model.input_shape[1], color="grayscale" if model.input_shape[-1] == 1 else "rgb",
        epochs=recipe.epochs, batch_size=recipe.batch_size, learning_rate=recipe.learning_rate(stage),
        warmup_epochs=0, recalibrate_bn=False, seed=recipe.seed,
    )


def stages_run_dir(data, arch: str, recipe: FineTuneRecipe, *, pretrained: bool) -> Path:
    """Where :func:`two_stage_fit` keeps the stages of this fine-tuning: keyed by the data, the
    backbone, its starting weights and the recipe, so running the notebook again resumes an
    interrupted stage or reloads the finished ones instead of training them again."""
    key = train.run_key({"arch": arch, "pretrained": pretrained, **recipe.to_dict()}, train.data_fingerprint(data))
    return new_run_dir("transfer", arch, key)


def two_stage_fit(model: keras.Model, data, recipe: FineTuneRecipe, *, run_dir: str | Path | None = None,
                  verbose: int | str = 2) -> dict[str, StageResult]:
    """Train the head on the frozen backbone, score it, then unfreeze the last stage, train on and score again.

    The second stage starts from the first's weights. The model is changed in place and ends
    fine-tuned. Returns ``{"frozen": ..., "fine_tuned": ...}``, scored on ``data``'s validation split.
    With ``run_dir`` each stage trains in ``run_dir/<stage>`` (see :func:`brainmri.train.fit`): it
    resumes after an interruption and ends with its epoch of lowest validation loss.
    """
    results = {}
    for stage in STAGES:
        if stage == "frozen":
            transfer.freeze_backbone(model)
        else:
            transfer.unfreeze_last_stage(model)
        stage_dir = None if run_dir is None else Path(run_dir) / stage
        summary = train.fit(model, data, stage_recipe(model, recipe, stage), run_dir=stage_dir, verbose=verbose)
        scores = evaluate.evaluate_model(model, data.x_val, data.y_val, data.class_names, batch_size=recipe.batch_size)
        results[stage] = StageResult(summary["history"], summary["epoch_seconds"], transfer.parameter_counts(model), scores)
    return results


def headline_metrics(scores: dict[str, object]) -> dict[str, float]:
    """Accuracy and the macro averages of precision, recall and F1 from :func:`brainmri.evaluate.evaluate_model` scores."""
    per_class = list(scores["per_class"].values())
    mean = lambda key: float(np.mean([row[key] for row in per_class]))  # noqa: E731
    return {"accuracy": float(scores["accuracy"]), "precision": mean("precision"), "recall": mean("recall"),
            "f1": float(scores["macro_f1"])}


def stage_table(stages: dict[str, StageResult]) -> dict[str, dict[str, float]]:
    """Per stage: headline metrics, trainable parameters and seconds per epoch."""
    return {name: {**headline_metrics(stage.scores), "trainable_params": stage.parameters["trainable"],
                   "seconds_per_epoch": stage.seconds_per_epoch} for name, stage in stages.items()}


def from_scratch_baseline(record: dict[str, object]) -> dict[str, object]:
    """Notebook 03's default classifier (the best recipe of its sweep) from ``results/03_classifier.json``.

    Returns ``{"name", "n_val", "metrics"}`` with its validation :func:`headline_metrics`.
    """
    try:
        scores, arch = record["validation"], record["recipe"]["arch"]
    except (KeyError, TypeError):
        raise ValueError("notebook 03's results lack 'validation' scores or 'recipe.arch'; rerun notebook 03") from None
    return {"name": f"{arch} (notebook 03)", "n_val": int(scores["n"]), "metrics": headline_metrics(scores)}


def comparison_rows(arch: str, table: dict[str, dict[str, float]],
                    scratch: dict[str, object] | None) -> dict[str, dict[str, float]]:
    """Headline metrics per stage (named ``"<arch> <stage>"``), then those of the from-scratch baseline if any."""
    rows = {f"{arch} {name}": {k: row[k] for k in HEADLINE} for name, row in table.items()}
    if scratch is not None:
        rows[scratch["name"]] = dict(scratch["metrics"])
    return rows


def best_stage(table: dict[str, dict[str, float]]) -> str:
    """The stage with the highest validation accuracy."""
    return max(table, key=lambda name: table[name]["accuracy"])


def findings(*, arch: str, pretrained: bool, n_train: int, image_size: int, epochs: int,
             table: dict[str, dict[str, float]], max_abs_r: float, scratch: dict[str, object] | None) -> list[str]:
    """The notebook's take-away, one sentence per point (Markdown), from its saved numbers."""
    best = best_stage(table)
    frozen, tuned = table["frozen"], table["fine_tuned"]
    weights = "ImageNet weights" if pretrained else "**random weights** (ImageNet weights could not be downloaded)"
    lines = [
        f"Backbone: **{arch}**, {weights}; {n_train} training scans at {image_size} px, {epochs} epochs per stage.",
        f"Validation accuracy: frozen {frozen['accuracy']:.3f}, fine-tuned {tuned['accuracy']:.3f} (best: {best}). "
        f"Unfreezing the last stage multiplied the trainable parameters by "
        f"{tuned['trainable_params'] / frozen['trainable_params']:.0f} and the time per epoch by "
        f"{tuned['seconds_per_epoch'] / frozen['seconds_per_epoch']:.2f}.",
        f"The strongest single neuron correlates with the tumour label at |r| = {max_abs_r:.2f}.",
        (f"Against {scratch['name']}: {100 * (table[best]['accuracy'] - scratch['metrics']['accuracy']):+.1f} points "
         "of validation accuracy." if scratch else "No comparison with notebook 03: run it first."),
        ("With ImageNet weights the frozen features are already informative; fine-tuning adapts the last stage to MRI."
         if pretrained else
         "These numbers are low **because the backbone is random**: a frozen random network is a fixed random "
         "feature extractor, and a few epochs at a small learning rate on a capped subset cannot train a "
         "last stage of millions of parameters from scratch. Run the notebook where the weights can be "
         "downloaded (Colab) to see what transfer learning does."),
    ]
    return lines
