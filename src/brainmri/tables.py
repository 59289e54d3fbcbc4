"""Markdown tables of result rows, with one rule for writing numbers.

Notebooks display these tables and the README embeds them (``{{ table:... }}``), so one number
shows the same wherever it appears: floats with three decimals (a value too small for them keeps
three significant digits instead of reading as zero), integers and everything else as written.
"""

from __future__ import annotations

import numbers
from typing import Any, Mapping, Sequence

DIGITS = 3


def format_value(value: Any, digits: int = DIGITS) -> str:
    """``value`` as a table cell: floats to ``digits`` decimals, or ``digits`` significant digits
    when the decimals would round a non-zero value to zero."""
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        fixed = f"{value:.{digits}f}"
        if value and float(fixed) == 0:
            return f"{value:.{digits}g}"
        return fixed
    return str(value)


def markdown_table(rows: Sequence[Mapping[str, Any]], columns: list[str] | None = None, digits: int = DIGITS) -> str:
    """Rows of a table as Markdown; ``columns`` default to the keys of the first row, a missing key is an empty cell."""
    if not isinstance(rows, (list, tuple)) or not rows or not all(isinstance(row, Mapping) for row in rows):
        raise ValueError(f"a table needs a non-empty list of dicts, got {str(rows)[:80]}")
    columns = list(rows[0]) if columns is None else list(columns)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(format_value(row.get(c, ""), digits) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


def keyed_rows(table: Mapping[str, Mapping[str, Any]], index: str) -> list[dict[str, Any]]:
    """``{name: row}`` as a list of rows, each starting with its name under the column ``index``."""
    return [{index: name, **row} for name, row in table.items()]
