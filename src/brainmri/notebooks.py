"""Execute the numbered notebooks top to bottom (``make run``, and the notebook tests)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from brainmri import config


def notebooks_dir() -> Path:
    return config.project_root() / "notebooks"


def list_notebooks(names: list[str] | None = None) -> list[Path]:
    """The numbered notebooks in order, or those whose file names start with one of ``names``."""
    found = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if names:
        found = [nb for nb in found if any(nb.name.startswith(n) for n in names)]
        if not found:
            raise FileNotFoundError(f"no notebook in {notebooks_dir()} starts with any of {names}")
    return found


PATH_VARIABLES = ("BRAINMRI_DATA", "BRAINMRI_FIGURES_DIR", "BRAINMRI_RESULTS_DIR", "BRAINMRI_RUNS_DIR",
                  "BRAINMRI_DATA_DIR")


def absolute_path_environment() -> dict[str, str]:
    """Make the ``BRAINMRI_*`` paths in the environment absolute, relative to the current directory.

    Kernels run in ``notebooks/``, so ``BRAINMRI_DATA=../shared/data`` given at the repository root
    would point somewhere else inside them. Returns the variables changed.
    """
    changed = {}
    for name in PATH_VARIABLES:
        value = os.environ.get(name)
        if value and not os.path.isabs(value):
            changed[name] = os.environ[name] = os.path.abspath(value)
    return changed


def execute_notebook(path: Path, *, output_dir: Path | None = None, timeout: int = 3600) -> nbformat.NotebookNode:
    """Run every cell of ``path`` in a fresh kernel whose working directory is ``notebooks/``.

    The profile and paths come from the environment (``BRAINMRI_*``). The executed copy, with
    outputs, is written to ``output_dir`` when given; the committed notebook stays clean.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # kernels inherit it: no C++ log noise
    absolute_path_environment()
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook, timeout=timeout, kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        nbformat.write(notebook, output_dir / path.name)
    return notebook


def run_notebooks_command(args: argparse.Namespace) -> int:
    profile = config.get_profile()
    output_dir = config.runs_dir() / "notebooks" / profile.name
    print(f"profile {profile.name}; executed copies go to {output_dir}")
    for path in list_notebooks(args.names):
        start = time.perf_counter()
        print(f"running {path.name} ...", flush=True)
        execute_notebook(path, output_dir=output_dir)
        print(f"  done in {time.perf_counter() - start:.0f} s", flush=True)
    return 0
