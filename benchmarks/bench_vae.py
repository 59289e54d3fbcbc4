"""VAE training on the real Training data at the default profile's size, against PCA in the same run.

Measures time per epoch (a fresh VAE trained here) against the PCA fit, validation SSIM of VAE and PCA reconstructions
(same latent size), the linear-probe AUC of tumour vs healthy on latent means, and the flip rate
of healthy scans edited by ``z + a * v`` under the shared (independent) classifier at the best ``a``.

    BRAINMRI_DATA=/work/shared/data/brain-tumor-mri-dataset .venv/bin/python benchmarks/bench_vae.py
"""

from __future__ import annotations

import time

from brainmri import benchmarking, config, latent
from brainmri.data import load_dataset, resolve_data_root
from brainmri.models import vae as V
from brainmri.train import load_or_train_classifier, load_or_train_vae

TIMED_EPOCHS = 2  # fresh epochs timed in this run; the measures use the shared, fully trained VAE


def main() -> None:
    profile = config.get_profile()
    data = load_dataset(resolve_data_root(), image_size=profile.image_size, color=profile.color,
                        task="multiclass", val_fraction=profile.val_fraction, max_per_class=profile.max_per_class)
    x_train = V.to_unit_grayscale(data.x_train, profile.vae_image_size)
    x_val = V.to_unit_grayscale(data.x_val, profile.vae_image_size)

    start = time.perf_counter()
    pca = V.PCABaseline.fit(x_train, profile.vae_latent_dim)
    pca_seconds = time.perf_counter() - start
    timing = load_or_train_vae(x_train, x_val, epochs=TIMED_EPOCHS, force_train=True, verbose=2)
    run = load_or_train_vae(x_train, x_val, time_budget_min=profile.vae_time_budget_min)  # the shared VAE
    vae_ssim = V.ssim_per_image(x_val, V.reconstruct(run.vae, x_val)).mean()
    pca_ssim = V.ssim_per_image(x_val, pca.reconstruct(x_val)).mean()

    t_train, t_val = latent.tumour_mask(data.y_train, data.class_names), latent.tumour_mask(data.y_val, data.class_names)
    z_train, z_val = latent.encode_means(run.vae, x_train), latent.encode_means(run.vae, x_val)
    probe = latent.linear_probe(z_train, t_train, z_val, t_val)

    classifier = load_or_train_classifier(data, task="multiclass", verbose=0)
    scorer = latent.TumourScorer(classifier.model, list(classifier.class_names))
    v = latent.attribute_vector(z_train, t_train)
    z_healthy = z_val[~t_val]
    curve = latent.sweep(lambda a: latent.decode(run.vae, z_healthy + a * v), latent.EDIT_STEPS, scorer)
    best = latent.best_step(curve)

    epoch_seconds = float(timing.epoch_seconds[-1])  # the first epoch also pays for tracing
    benchmarking.write_benchmark(
        "vae_training", baseline="vae_epoch", candidate="pca_fit",
        seconds={"vae_epoch": epoch_seconds, "pca_fit": pca_seconds},
        extra={"image_size": profile.vae_image_size, "latent_dim": profile.vae_latent_dim,
               "n_train": len(x_train), "n_val": len(x_val), "timed_epoch_seconds": timing.epoch_seconds,
               "shared_vae_epochs": len(run.epoch_seconds), "shared_vae_epoch_seconds": run.epoch_seconds, "val_ssim_vae": float(vae_ssim), "val_ssim_pca": float(pca_ssim),
               "probe": probe, "flip_rate_best": best["flip_rate"], "best_a": best["steps"],
               "ssim_at_best_a": best["ssim"], "edit_curve": curve, "data": data.source.kind},
    )
    print(f"VAE {epoch_seconds:.1f} s/epoch; val SSIM VAE {vae_ssim:.3f} vs PCA {pca_ssim:.3f}; "
          f"probe AUC {probe['auc']:.3f}; flip rate {best['flip_rate']:.2f} at a = {best['steps']}")


if __name__ == "__main__":
    main()
