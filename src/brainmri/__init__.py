"""Deep learning on brain-tumour MRI: data, classifiers, explanations and a VAE's latent space."""

__version__ = "0.1.0"
