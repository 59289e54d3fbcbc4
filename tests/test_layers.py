"""The import contract: every module imports only from its own layer or the layers below it.

The layers, bottom to top (CONTRIBUTING.md, "Layers"):

0. shared utilities: config (profiles, paths), hardware (strategy, precision, XLA), results
   (provenance, saved results), tables (Markdown tables), benchmarking, stats (intervals, KID), and the
   ``brainmri.plots`` package itself (``save_fig``);
1. data;
2. models (builders, custom layers, loading);
3. training and evaluation: train, evaluate;
4. experiments: sweep, finetune, explain, segmentation, latent, neurons, shape, convolution, predict, and
   the figure modules ``brainmri.plots.<topic>``, which draw the results of one layer each;
5. entry points: cli, notebooks (the runner), readme, colab, ``__main__``.

Every import of a ``brainmri`` module counts, wherever it is written (inside a function too): a
lazy import hides a dependency from the reader, not from the layering.
"""

from __future__ import annotations

import ast
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "brainmri"

# (layer name, exact module names, module-name prefixes); a prefix also matches its submodules.
LAYERS: list[tuple[str, tuple[str, ...], tuple[str, ...]]] = [
    ("shared utilities", ("brainmri", "brainmri.plots"),
     ("brainmri.config", "brainmri.hardware", "brainmri.results", "brainmri.tables", "brainmri.benchmarking",
      "brainmri.stats")),
    ("data", (), ("brainmri.data",)),
    ("models", (), ("brainmri.models",)),
    ("training and evaluation", (), ("brainmri.train", "brainmri.evaluate")),
    ("experiments", (), ("brainmri.sweep", "brainmri.finetune", "brainmri.explain", "brainmri.segmentation",
                         "brainmri.latent", "brainmri.neurons", "brainmri.shape", "brainmri.convolution",
                         "brainmri.plots", "brainmri.predict")),
    ("entry points", (), ("brainmri.cli", "brainmri.notebooks", "brainmri.readme", "brainmri.colab",
                          "brainmri.__main__")),
]


def layer_of(module: str) -> int:
    """Index of ``module``'s layer in :data:`LAYERS`: an exact name first, else the longest matching prefix."""
    for index, (_, exact, _) in enumerate(LAYERS):
        if module in exact:
            return index
    matches = [(len(prefix), index) for index, (_, _, prefixes) in enumerate(LAYERS) for prefix in prefixes
               if module == prefix or module.startswith(prefix + ".")]
    if not matches:
        raise KeyError(f"{module} has no layer: add it to LAYERS in tests/test_layers.py (and to CONTRIBUTING.md)")
    return max(matches)[1]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root`` (a ``src`` folder), by dotted name."""
    return {module_name(path, root): path for path in sorted((root / PACKAGE).rglob("*.py"))}


@dataclass(frozen=True)
class Import:
    importer: str
    imported: str
    path: Path
    line: int


def _absolute(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    """The module an ``ImportFrom`` names, relative imports resolved against ``importer``."""
    if not node.level:
        return node.module or ""
    package = importer if is_package else importer.rpartition(".")[0]
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def imports_of(path: Path, importer: str, modules: set[str]) -> list[Import]:
    """The package modules that ``path`` imports, at module level or inside functions and classes.

    ``from brainmri.models import transfer`` imports the module ``brainmri.models.transfer``;
    ``from brainmri.models import build_model`` imports ``brainmri.models``.
    """
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, importer, path.name == "__init__.py")
            names = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        found += [Import(importer, name, path, node.lineno) for name in names
                  if name == PACKAGE or name.startswith(PACKAGE + ".")]
    return found


def upward_imports(root: Path) -> list[str]:
    """One line per import of a module from a higher layer than the importer's."""
    modules = package_modules(root)
    problems = []
    for importer, path in modules.items():
        for imp in imports_of(path, importer, set(modules)):
            low, high = layer_of(importer), layer_of(imp.imported)
            if high > low:
                problems.append(f"{path.relative_to(root)}:{imp.line}: {importer} ({LAYERS[low][0]}) imports "
                                f"{imp.imported} ({LAYERS[high][0]})")
    return problems


def test_every_module_of_the_package_has_a_layer():
    for module in package_modules(SRC):
        layer_of(module)


def test_the_package_imports_only_downwards():
    problems = upward_imports(SRC)
    assert not problems, "upward imports (see CONTRIBUTING.md, Layers):\n" + "\n".join(problems)


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / PACKAGE / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


# The import block of models/transfer.py before the fine-tuning protocol moved to brainmri.finetune.
OLD_TRANSFER = """
    import keras

    from brainmri import config, evaluate, train

    from brainmri.models.layers import CaffePreprocess
"""
MINIMAL = {"__init__.py": "", "config.py": "", "evaluate.py": "", "train/__init__.py": "", "finetune.py": "",
           "data/__init__.py": "", "models/__init__.py": "", "models/layers.py": ""}


def test_the_checker_flags_the_model_module_that_imported_the_trainer(tmp_path):
    root = _write_package(tmp_path, {**MINIMAL, "models/transfer.py": OLD_TRANSFER})
    assert upward_imports(root) == [
        "brainmri/models/transfer.py:4: brainmri.models.transfer (models) imports brainmri.evaluate (training and evaluation)",
        "brainmri/models/transfer.py:4: brainmri.models.transfer (models) imports brainmri.train (training and evaluation)",
    ]


def test_the_checker_sees_lazy_and_relative_imports_and_ignores_attributes(tmp_path):
    root = _write_package(tmp_path, {**MINIMAL, "data/load.py": """
        from brainmri import config
        from brainmri.models import build_model  # same module as brainmri.models: still upward


        def load():
            from .. import finetune
            return finetune
    """, "models/cnn.py": "from . import layers\nfrom brainmri.data import load\n"})
    assert upward_imports(root) == [
        "brainmri/data/load.py:3: brainmri.data.load (data) imports brainmri.models (models)",
        "brainmri/data/load.py:7: brainmri.data.load (data) imports brainmri.finetune (experiments)",
    ]


def test_the_checker_accepts_downward_and_same_layer_imports(tmp_path):
    root = _write_package(tmp_path, {
        **MINIMAL,
        "finetune.py": "from brainmri import evaluate, train\nimport brainmri.models.layers\n",
        "train/loop.py": "from brainmri.train import registry\nfrom brainmri.evaluate import x\n",
    })
    assert upward_imports(root) == []


def test_layers_match_by_prefix_and_an_unmapped_module_is_named():
    assert layer_of("brainmri.train.loop") == layer_of("brainmri.train")  # modules that moved into packages keep their layer
    assert LAYERS[layer_of("brainmri.plots")][0] == "shared utilities"
    assert LAYERS[layer_of("brainmri.plots.latent")][0] == "experiments"
    with pytest.raises(KeyError, match="brainmri.newthing has no layer"):
        layer_of("brainmri.newthing")
