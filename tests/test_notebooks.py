"""Every numbered notebook runs top to bottom under the smoke profile, and is committed clean."""

import nbformat
import pytest

from brainmri.notebooks import execute_notebook, list_notebooks

NOTEBOOKS = list_notebooks()


def test_notebooks_exist_in_order():
    numbers = [int(nb.name[:2]) for nb in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)), [nb.name for nb in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_committed_without_outputs(path):
    notebook = nbformat.read(path, as_version=4)
    dirty = [i for i, cell in enumerate(notebook.cells)
             if cell.cell_type == "code" and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, f"{path.name}: cells {dirty} carry outputs; clear them before committing"


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[nb.stem for nb in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(path, tmp_path):
    executed = execute_notebook(path, output_dir=tmp_path, timeout=900)
    unexecuted = [i for i, cell in enumerate(executed.cells)
                  if cell.cell_type == "code" and cell.execution_count is None]
    assert not unexecuted, f"{path.name}: cells {unexecuted} did not run"
