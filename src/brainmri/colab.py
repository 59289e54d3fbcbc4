"""Google Colab support: the first cell of every notebook, and the repository URL in one place."""

from __future__ import annotations

REPO_URL = "https://github.com/brainmri-research/brain-tumor-mri"
REPO_DIR = "brain-tumor-mri"
NOTEBOOK_BRANCH = "main"

SETUP_CELL = f'''# Colab only: fetch the repository and install the package; elsewhere this cell does nothing.
import os, subprocess, sys
if "google.colab" in sys.modules and not os.path.isdir("/content/{REPO_DIR}"):
    subprocess.run(["git", "clone", "--depth", "1", "{REPO_URL}", "/content/{REPO_DIR}"], check=True)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", "/content/{REPO_DIR}"], check=True)
    sys.path.insert(0, "/content/{REPO_DIR}/src")
    os.chdir("/content/{REPO_DIR}/notebooks")'''


def colab_badge(notebook_name: str) -> str:
    """Markdown for an "Open in Colab" badge that opens ``notebooks/<notebook_name>`` from REPO_URL."""
    repo_path = REPO_URL.removeprefix("https://github.com/")
    url = f"https://colab.research.google.com/github/{repo_path}/blob/{NOTEBOOK_BRANCH}/notebooks/{notebook_name}"
    return f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({url})"
