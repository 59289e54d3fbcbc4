"""The setup notebooks 08 and 09 share: the data, the VAE(s) of notebook 07, the classifier of
notebook 03 and its copy fine-tuned on the VAE's decodings (the judge), loaded from ``runs/``
(trained first if missing)."""

from __future__ import annotations

from dataclasses import dataclass
import numpy as np

from brainmri import config
from brainmri.data import SplitArrays, load_profile_dataset, resolve_data_root
from brainmri.evaluate import tumour_labels
from brainmri.latent.judge import TumourScorer, load_or_finetune_judge
from brainmri.models.vae import VAE, to_unit_grayscale
from brainmri.train import TrainedClassifier, load_or_train_classifier, load_or_train_vae


@dataclass
class LatentSetup:
    """Scans in the VAE's space (``x_*``: grayscale ``[0, 1]`` at the VAE's size) with boolean
    ``tumour_*`` masks, the VAE (``cvae``: the conditional one, when asked for), the classifier
    run, the judge of decodings (``scorer``: the classifier fine-tuned on the VAE's reconstructions)
    with the name results quote it by, and the original classifier as a second opinion."""
    data: SplitArrays
    x_train: np.ndarray
    x_val: np.ndarray
    tumour_train: np.ndarray
    tumour_val: np.ndarray
    vae: VAE
    cvae: VAE | None
    classifier: TrainedClassifier
    scorer: TumourScorer
    judge_name: str
    second_opinion: TumourScorer


def setup(profile: config.Profile | None = None, *, conditional: bool = False) -> LatentSetup:
    """Load the data with the profile's split, both models and the judge, in the order notebook 07
    trains them (the VAE, then the conditional VAE, then the classifier)."""
    profile = profile or config.get_profile()
    data = load_profile_dataset(resolve_data_root(), profile)
    x_train = to_unit_grayscale(data.x_train, profile.vae_image_size)
    x_val = to_unit_grayscale(data.x_val, profile.vae_image_size)
    vae_run = load_or_train_vae(x_train, x_val, time_budget_min=profile.vae_time_budget_min)
    cvae = load_or_train_vae(x_train, x_val, labels_train=data.y_train, labels_val=data.y_val,
                             num_classes=len(data.class_names),
                             time_budget_min=profile.vae_time_budget_min).vae if conditional else None
    classifier = load_or_train_classifier(data, task="multiclass", verbose=0)
    judge = load_or_finetune_judge(vae_run, classifier, x_train, data.y_train)
    class_names = list(classifier.class_names)
    return LatentSetup(data, x_train, x_val, tumour_labels(data.y_train, data.class_names).astype(bool),
                       tumour_labels(data.y_val, data.class_names).astype(bool), vae_run.vae, cvae, classifier,
                       TumourScorer(judge.model, class_names),
                       f"classifier {classifier.run_dir.name} fine-tuned on decodings ({judge.path.parent.name})",
                       TumourScorer(classifier.model, class_names))
