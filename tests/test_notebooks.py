"""Every numbered notebook runs top to bottom under the smoke profile, and is committed clean."""

import json
import os

import nbformat
import pytest

from brainmri.notebooks import absolute_path_environment, execute_notebook, list_notebooks

NOTEBOOKS = list_notebooks()


def test_relative_data_and_output_paths_are_made_absolute_for_the_kernels(monkeypatch, tmp_path):
    """Kernels run in notebooks/: a relative BRAINMRI_DATA given at the root must not move with them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRAINMRI_DATA", "../shared/data/brain-tumor-mri-dataset")
    monkeypatch.setenv("BRAINMRI_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.delenv("BRAINMRI_RUNS_DIR", raising=False)
    changed = absolute_path_environment()
    expected = str(tmp_path.parent / "shared" / "data" / "brain-tumor-mri-dataset")
    assert changed == {"BRAINMRI_DATA": expected}
    assert os.environ["BRAINMRI_DATA"] == expected and os.environ["BRAINMRI_FIGURES_DIR"] == str(tmp_path / "figures")
    assert "BRAINMRI_RUNS_DIR" not in os.environ


def test_notebooks_exist_in_order():
    numbers = [int(nb.name[:2]) for nb in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)), [nb.name for nb in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"
    raw_cells = json.loads(path.read_text())["cells"]  # nbformat.read would add missing ids silently
    missing = [i for i, cell in enumerate(raw_cells) if "id" not in cell]
    assert not missing, f"{path.name}: cells {missing} have no id (nbformat 4.5 requires one)"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    executed = execute_notebook(path, output_dir=tmp_path, timeout=900)
    unexecuted = [i for i, cell in enumerate(executed.cells)
                  if cell.cell_type == "code" and cell.execution_count is None]
    assert not unexecuted, f"{path.name}: cells {unexecuted} did not run"


GPU_PATH_NOTEBOOKS = [nb for nb in NOTEBOOKS if nb.name[:2] in ("05", "06", "09")]


@pytest.fixture(scope="module")
def mixed_precision_runs(tmp_path_factory):
    """A runs/ of their own for the float16 notebooks, shared among them as a user's runs/ is."""
    return tmp_path_factory.mktemp("mixed_float16_runs")


@pytest.mark.notebook
@pytest.mark.parametrize("path", GPU_PATH_NOTEBOOKS, ids=[nb.stem for nb in GPU_PATH_NOTEBOOKS])
def test_explainer_and_generative_notebooks_run_in_mixed_float16(path, tmp_path, monkeypatch, mixed_precision_runs):
    """What a Colab GPU runs: every model trained and explained in float16. The runs/ holds only
    models trained in float16 by these notebooks, so that no float32 model of another test is loaded
    instead."""
    monkeypatch.setenv("BRAINMRI_PRECISION", "mixed_float16")
    monkeypatch.setenv("BRAINMRI_RUNS_DIR", str(mixed_precision_runs))
    executed = execute_notebook(path, output_dir=tmp_path, timeout=900)
    assert all(cell.execution_count is not None for cell in executed.cells if cell.cell_type == "code")
