"""Render README.md from ``docs/README.template.md`` and the results of the last real run.

The README's numbers are never typed: the template names them, ``{{ 03_cnn_classifier.accuracy | pct }}``,
and this module fills them in from ``results/*.json``. A test checks that the committed README is
exactly what the template and the committed results render to.

Placeholders:
- ``{{ results_name.dotted.key }}`` or ``{{ ... | fmt }}`` with fmt one of ``pct`` (0.973 -> 97.3%),
  ``f1``, ``f2``, ``f3`` (fixed decimals), ``int`` (thousands separators), ``x`` (ratio, 1 decimal);
- ``{{ badge:NN_name.ipynb }}``: an "Open in Colab" badge;
- ``{{ table:results_name.key }}``: a list of dicts (rows) as a Markdown table (:func:`brainmri.tables.markdown_table`);
- ``{{ benchmarks }}``: the benchmark table from ``results/benchmarks/``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from brainmri import config, results
from brainmri.benchmarking import benchmark_table
from brainmri.colab import colab_badge
from brainmri.tables import markdown_table

PLACEHOLDER = re.compile(r"\{\{\s*(.+?)\s*\}\}")

FORMATS = {
    "pct": lambda v: f"{100 * v:.1f}%",
    "f1": lambda v: f"{v:.1f}",
    "f2": lambda v: f"{v:.2f}",
    "f3": lambda v: f"{v:.3f}",
    "int": lambda v: f"{int(v):,}",
    "x": lambda v: f"{v:.1f}x",
}


def template_path():
    return config.project_root() / "docs" / "README.template.md"


def _descend(value: Any, path: str, expression: str, name: str) -> Any:
    """Follow ``path`` into nested dicts; keys may themselves contain dots (the longest key wins)."""
    while path:
        keys = [k for k in value if path == k or path.startswith(k + ".")] if isinstance(value, dict) else []
        if not keys:
            raise KeyError(f"README placeholder {{{{ {expression} }}}}: results/{name}.json has no {path.split('.')[0]!r}")
        key = max(keys, key=len)
        value, path = value[key], path[len(key) + 1:]
    return value


def lookup(expression: str, cache: dict[str, dict]) -> Any:
    """Value at ``results_name.key.key`` in ``results/<results_name>.json``."""
    name, _, path = expression.partition(".")
    if name not in cache:
        cache[name] = results.load_results(name)
    return _descend(cache[name], path, expression, name)


def _substitute(match: re.Match, cache: dict[str, dict]) -> str:
    expression, _, fmt = (part.strip() for part in match.group(1).partition("|"))
    if expression.startswith("badge:"):
        return colab_badge(expression.removeprefix("badge:"))
    if expression == "benchmarks":
        return benchmark_table()
    if expression.startswith("table:"):
        return markdown_table(lookup(expression.removeprefix("table:"), cache))
    value = lookup(expression, cache)
    if fmt and fmt not in FORMATS:
        raise ValueError(f"README placeholder {{{{ {match.group(1)} }}}}: unknown format {fmt!r}; use one of {sorted(FORMATS)}")
    return FORMATS[fmt](value) if fmt else str(value)


def render(template: str) -> str:
    cache: dict[str, dict] = {}
    return PLACEHOLDER.sub(lambda m: _substitute(m, cache), template)


def render_readme_command(args: argparse.Namespace) -> int:
    readme = config.project_root() / "README.md"
    readme.write_text(render(template_path().read_text()))
    print(f"wrote {readme}")
    return 0
