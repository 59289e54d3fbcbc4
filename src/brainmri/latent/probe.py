"""What a VAE's code knows about tumours: a linear probe on latent means (also the independent
judge of notebook 08's ascent), and the encoder fine-tuned as a classifier backbone."""

from __future__ import annotations

import keras
import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score, roc_auc_score
from sklearn.model_selection import KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from brainmri import config
from brainmri.hardware import jit_compile
from brainmri.models.vae import VAE


def binary_scores(y_true: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Accuracy at 0.5 and ROC AUC (NaN when only one class is present) of probabilities ``p``."""
    y_true = np.asarray(y_true, int)
    return {"accuracy": float(((p >= 0.5) == y_true).mean()),
            "auc": float(roc_auc_score(y_true, p)) if len(set(y_true)) == 2 else float("nan")}


def fit_probe(z: np.ndarray, is_tumour: np.ndarray, seed: int = config.SEED):
    """Logistic regression tumour-vs-healthy on standardised latent means (a scikit-learn pipeline)."""
    probe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000, random_state=seed))
    return probe.fit(z, np.asarray(is_tumour, int))


def linear_probe(z_train: np.ndarray, t_train: np.ndarray, z_val: np.ndarray, t_val: np.ndarray,
                 seed: int = config.SEED) -> dict[str, float]:
    """Validation accuracy and AUC of :func:`fit_probe`."""
    return binary_scores(t_val, fit_probe(z_train, t_train, seed).predict_proba(z_val)[:, 1])


def ridge_readout(z: np.ndarray, target: np.ndarray, *, folds: int = 5, seed: int = config.SEED) -> dict:
    """How much of a continuous ``target`` (``(N,)`` or ``(N, k)``) a linear map of the codes
    explains: R^2 of ridge regression on standardised codes, every code predicted by a model fitted
    on the other folds (the ridge strength chosen inside). Near 0: z does not carry it linearly."""
    z = np.asarray(z, np.float64).reshape(len(z), -1)
    target = np.asarray(target, np.float64)
    if len(z) != len(target):
        raise ValueError(f"{len(z)} codes but {len(target)} targets")
    if len(z) < 2 * folds:
        raise ValueError(f"a {folds}-fold read-out needs at least {2 * folds} codes, got {len(z)}")
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
    predicted = cross_val_predict(model, z, target, cv=KFold(folds, shuffle=True, random_state=seed))
    columns = target.reshape(len(target), -1)
    per_target = [float(r2_score(columns[:, j], predicted.reshape(len(z), -1)[:, j])) for j in range(columns.shape[1])]
    return {"r2": float(np.mean(per_target)), "r2_per_target": per_target, "n": int(len(z)), "folds": folds}


def encoder_classifier(vae: VAE) -> keras.Model:
    """A copy of the (unconditional) encoder with a sigmoid head on ``z_mean``: P(tumour) of a
    ``[0, 1]`` image. The copy leaves the VAE untouched when fine-tuned."""
    if vae.num_classes:
        raise ValueError("the conditional VAE's encoder needs the label it should predict; use the plain VAE")
    encoder = keras.models.clone_model(vae.encoder)
    encoder.set_weights(vae.encoder.get_weights())
    mean_only = keras.Model(encoder.inputs, encoder.outputs[0], name="encoder_mean")
    image = keras.Input(vae.encoder.inputs[0].shape[1:], name="image")
    z_mean = mean_only(image)
    output = keras.layers.Dense(1, activation="sigmoid", name="predictions")(z_mean)
    return keras.Model(image, output, name="encoder_classifier")


def finetune_encoder(vae: VAE, x_train: np.ndarray, t_train: np.ndarray, x_val: np.ndarray, t_val: np.ndarray,
                     *, epochs: int = 1, batch_size: int = 32, learning_rate: float = 3e-4,
                     seed: int = config.SEED) -> dict[str, float]:
    """Fine-tune the encoder end to end as a tumour-vs-healthy classifier; validation scores."""
    keras.utils.set_random_seed(seed)
    model = encoder_classifier(vae)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy", jit_compile=jit_compile())
    model.fit(x_train, np.asarray(t_train, np.float32), epochs=epochs, batch_size=batch_size, verbose=0)
    return binary_scores(t_val, model.predict(x_val, batch_size=128, verbose=0)[:, 0])
