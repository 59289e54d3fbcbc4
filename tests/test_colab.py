"""The Colab set-up cell: identical in every notebook, inert outside Colab, correct inside it."""

import subprocess
import sys
import types

import nbformat
import pytest

from brainmri.colab import REPO_DIR, REPO_URL, SETUP_CELL, colab_badge
from brainmri.notebooks import list_notebooks


def _run_setup_cell(monkeypatch, *, in_colab: bool, already_cloned: bool = False) -> list[list[str]]:
    calls: list[list[str]] = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, check: calls.append(cmd))
    monkeypatch.setattr("os.path.isdir", lambda path: already_cloned)
    monkeypatch.setattr("os.chdir", lambda path: calls.append(["chdir", path]))
    monkeypatch.setattr(sys, "path", list(sys.path))
    if in_colab:
        monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    else:
        monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    exec(compile(SETUP_CELL, "setup-cell", "exec"), {})
    return calls


def test_setup_cell_does_nothing_outside_colab(monkeypatch):
    assert _run_setup_cell(monkeypatch, in_colab=False) == []


def test_setup_cell_clones_and_installs_in_colab(monkeypatch):
    target = f"/content/{REPO_DIR}"
    assert _run_setup_cell(monkeypatch, in_colab=True) == [
        ["git", "clone", "--depth", "1", REPO_URL, target],
        [sys.executable, "-m", "pip", "install", "-q", "-e", target],
        ["chdir", f"{target}/notebooks"],
    ]


def test_setup_cell_skips_clone_when_repository_is_there(monkeypatch):
    assert _run_setup_cell(monkeypatch, in_colab=True, already_cloned=True) == []


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_setup_cell(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "code" and first.source == SETUP_CELL, (
        f"{path.name}: the first cell must be brainmri.colab.SETUP_CELL"
    )


def test_badge_opens_the_notebook_from_the_repository():
    badge = colab_badge("05_grad_cam.ipynb")
    repo_path = REPO_URL.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{repo_path}/blob/main/notebooks/05_grad_cam.ipynb" in badge
