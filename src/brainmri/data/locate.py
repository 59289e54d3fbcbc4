"""Find the dataset: an explicit path, then ``BRAINMRI_DATA``, then Kaggle, then the synthetic phantom.

Whatever is chosen is recorded with :func:`brainmri.results.set_data_source`, so every saved figure
and number says which data made it. Falling back to the phantom is announced loudly: its numbers
say nothing about real MRI. In Colab, where a GPU would otherwise be spent on the phantom unnoticed,
a failed download stops instead, unless ``BRAINMRI_ALLOW_PHANTOM=1``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from brainmri import config, results
from brainmri.data.phantom import ensure_phantom

DATA_ENV = "BRAINMRI_DATA"
ALLOW_PHANTOM_ENV = "BRAINMRI_ALLOW_PHANTOM"
KAGGLE_HANDLE = "masoudnickparvar/brain-tumor-mri-dataset/versions/1"


@dataclass(frozen=True)
class DataSource:
    root: Path
    kind: str  # "path" | "env" | "kagglehub" | "phantom"
    message: str


def _existing(path: str | Path, what: str) -> Path:
    path = Path(path).expanduser()
    if not path.is_dir():
        raise FileNotFoundError(f"{what} {path} is not a directory")
    return path.resolve()


def _download_from_kaggle() -> tuple[Path | None, str]:
    """kagglehub's download folder, or None and one readable line saying why not."""
    try:
        import kagglehub

        return Path(kagglehub.dataset_download(KAGGLE_HANDLE)), f"downloaded {KAGGLE_HANDLE} with kagglehub"
    except Exception as error:  # offline, rate limits, a withdrawn dataset: no download, one line why
        reason = str(error).splitlines()[0][:160] if str(error) else ""
        return None, f"kagglehub could not fetch {KAGGLE_HANDLE}: {type(error).__name__}: {reason}"


def phantom_key(profile: config.Profile) -> str:
    return f"{profile.phantom_per_class}pc-{profile.phantom_image_size}px-seed{config.SEED}"


def _phantom_banner(root: Path, why: str) -> str:
    rule = "=" * 78
    return "\n".join([
        rule,
        "NO REAL DATA: using the SYNTHETIC PHANTOM (generated brain-like slices).",
        f"  why: {why}",
        f"  at:  {root}",
        "  Every number and figure below describes the phantom, not real MRI scans.",
        f"  For real data set {DATA_ENV}=/path/to/brain-tumor-mri-dataset or pass a path.",
        rule,
    ])


def _in_colab() -> bool:
    return "google.colab" in sys.modules


def _phantom_allowed() -> bool:
    return os.environ.get(ALLOW_PHANTOM_ENV, "").strip().lower() not in ("", "0", "false", "no")


class DataUnavailableError(RuntimeError):
    """No real data could be found where falling back to the phantom is not wanted."""


def _colab_refusal(why: str) -> DataUnavailableError:
    return DataUnavailableError("\n".join([
        "No real data: the dataset could not be downloaded in Colab, so the notebook stops here",
        f"rather than spend the runtime on the synthetic phantom.  why: {why}",
        "Fix one of:",
        "  - check that the runtime is online, then run the cell again;",
        f"  - set {DATA_ENV} to a copy of the dataset, e.g. on Drive:",
        f"    os.environ[\"{DATA_ENV}\"] = \"/content/drive/MyDrive/brain-tumor-mri-dataset\";",
        f"  - or run on the synthetic phantom on purpose: os.environ[\"{ALLOW_PHANTOM_ENV}\"] = \"1\".",
    ]))


def resolve_data_root(path: str | Path | None = None, *, profile: config.Profile | None = None,
                      verbose: bool = True) -> DataSource:
    """The dataset to use, in order: ``path``, ``$BRAINMRI_DATA``, Kaggle via kagglehub, the phantom.

    A path or environment variable that does not exist is an error, not a silent fallback. The
    phantom's size follows the profile (``phantom_per_class``, ``phantom_image_size``). In Colab a
    failed download raises :class:`DataUnavailableError` unless ``BRAINMRI_ALLOW_PHANTOM=1``.
    """
    if path is not None:
        source = DataSource(_existing(path, "data path"), "path", f"data from {path}")
    elif os.environ.get(DATA_ENV):
        root = _existing(os.environ[DATA_ENV], f"{DATA_ENV}=")
        source = DataSource(root, "env", f"data from {DATA_ENV}={root}")
    else:
        downloaded, note = _download_from_kaggle()
        if downloaded is not None:
            source = DataSource(downloaded, "kagglehub", note)
        elif _in_colab() and not _phantom_allowed():
            raise _colab_refusal(note)
        else:
            profile = profile or config.get_profile()
            root = ensure_phantom(config.data_dir() / "phantom" / phantom_key(profile),
                                  per_class=profile.phantom_per_class, image_size=profile.phantom_image_size)
            source = DataSource(root, "phantom", _phantom_banner(root, note))
    results.set_data_source(source.kind, source.root)
    if verbose:
        print(source.message, flush=True)
    return source
