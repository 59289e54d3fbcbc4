"""Markdown tables: one number rule for notebooks and the README, and bad rows rejected."""

import numpy as np
import pytest

from brainmri.tables import format_value, keyed_rows, markdown_table


@pytest.mark.parametrize("value, text", [
    (0.51234, "0.512"), (0.0, "0.000"), (-0.0212, "-0.021"), (0.0077, "0.008"), (3e-4, "0.0003"),
    (1.234e-13, "1.23e-13"), (np.float32(0.5), "0.500"), (33488, "33488"), (np.int64(7), "7"), (True, "True"),
    ("Grad-CAM", "Grad-CAM"),
])
def test_numbers_follow_one_rule(value, text):
    assert format_value(value) == text


def test_table_takes_columns_from_the_first_row_unless_given():
    rows = [{"arch": "a", "parameters": 33488, "val_accuracy": 0.5}, {"arch": "b", "val_accuracy": 0.25}]
    assert markdown_table(rows).splitlines() == [
        "| arch | parameters | val_accuracy |", "|---|---|---|", "| a | 33488 | 0.500 |", "| b |  | 0.250 |"]
    assert markdown_table(rows, ["val_accuracy", "arch"], digits=1).splitlines()[2] == "| 0.5 | a |"


@pytest.mark.parametrize("rows", [[], 0.97, {"a": 1}, ["a", "b"]])
def test_anything_but_a_list_of_dicts_is_rejected(rows):
    with pytest.raises(ValueError, match="needs a non-empty list of dicts"):
        markdown_table(rows)


def test_keyed_rows_put_the_name_first():
    rows = keyed_rows({"frozen": {"accuracy": 0.5}, "fine_tuned": {"accuracy": 0.75}}, "stage")
    assert rows == [{"stage": "frozen", "accuracy": 0.5}, {"stage": "fine_tuned", "accuracy": 0.75}]
    assert markdown_table(rows).splitlines()[-1] == "| fine_tuned | 0.750 |"
