"""Google Colab support: the first cell of every notebook, and the repository URL in one place.

The first cell (``SETUP_CELL``) must run before the package can be imported, so it does only what
needs no package: clone the repository, install it when a fresh Python cannot ``import brainmri``,
and put ``src`` on the path (a package installed in this session is importable by new processes
only). Everything else happens in :func:`start_session`. Running the cell again, after a failed
install or after "Restart session", does whatever is still missing and nothing twice.
"""

from __future__ import annotations

import os
from pathlib import Path

from brainmri import config

REPO_URL = "https://github.com/brainmri-research/brain-tumor-mri"
REPO_DIR = "brain-tumor-mri"
NOTEBOOK_BRANCH = "main"
COLAB_ROOT = "/content"
COLAB_ROOT_ENV = "BRAINMRI_COLAB_ROOT"  # tests point it at a temporary folder
DRIVE_FOLDER = "MyDrive/brainmri"
DRIVE_DIRS = ("runs", "results", "figures")  # each followed through BRAINMRI_<NAME>_DIR by config

SETUP_CELL = f'''# Colab: clone and install the package (again whenever it does not import), then set the profile and,
# if USE_DRIVE, keep runs/, results/ and figures/ in Google Drive's MyDrive/brainmri. Elsewhere: nothing.
PROFILE = "default"  # smoke (minutes) | default | full
USE_DRIVE = False
import os, subprocess, sys
if "google.colab" in sys.modules:
    repo = os.path.join(os.environ.get("{COLAB_ROOT_ENV}", "{COLAB_ROOT}"), "{REPO_DIR}")
    if not os.path.isdir(os.path.join(repo, ".git")):
        subprocess.run(["git", "clone", "--depth", "1", "{REPO_URL}", repo], check=True)
    if subprocess.run([sys.executable, "-c", "import brainmri"]).returncode != 0:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", repo], check=True)
    if os.path.join(repo, "src") not in sys.path:
        sys.path.insert(0, os.path.join(repo, "src"))
    from brainmri.colab import start_session
    start_session(repo, profile=PROFILE, use_drive=USE_DRIVE)'''


def drive_env(name: str) -> str:
    """The environment variable that moves ``runs``, ``results`` or ``figures`` (read by config)."""
    return f"BRAINMRI_{name.upper()}_DIR"


def _mount_drive(mountpoint: Path) -> Path:
    """Mount Google Drive (Colab asks for consent the first time) and return the project's folder on it."""
    from google.colab import drive

    drive.mount(str(mountpoint))
    return mountpoint / DRIVE_FOLDER


def _point_outputs_at(folder: Path | None, mountpoint: Path) -> None:
    """Send runs/, results/ and figures/ to ``folder``; with None, stop sending them under ``mountpoint``."""
    for name in DRIVE_DIRS:
        env = drive_env(name)
        if folder is not None:
            os.environ[env] = str(folder / name)
        elif os.environ.get(env, "").startswith(str(mountpoint)):
            del os.environ[env]


def start_session(repo: str | os.PathLike, *, profile: str, use_drive: bool) -> None:
    """Set the profile, optionally keep outputs on Google Drive, and work from ``notebooks/``.

    The profile and the output folders are environment variables, so ``python -m brainmri`` run
    from the notebook sees them too.
    """
    config.get_profile(profile)  # an unknown name stops here, with the list of valid ones
    os.environ[config.PROFILE_ENV] = profile
    repo = Path(repo)
    mountpoint = repo.parent / "drive"
    drive_folder = _mount_drive(mountpoint) if use_drive else None
    _point_outputs_at(drive_folder, mountpoint)
    os.chdir(repo / "notebooks")
    where = f"runs/, results/ and figures/ in {drive_folder}" if drive_folder else "outputs on this VM only"
    print(f"brainmri from {repo} · profile {profile} · {where}", flush=True)


def colab_badge(notebook_name: str) -> str:
    """Markdown for an "Open in Colab" badge that opens ``notebooks/<notebook_name>`` from REPO_URL."""
    repo_path = REPO_URL.removeprefix("https://github.com/")
    url = f"https://colab.research.google.com/github/{repo_path}/blob/{NOTEBOOK_BRANCH}/notebooks/{notebook_name}"
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
