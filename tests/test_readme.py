"""README rendering: numbers come from results/*.json, never typed; mistakes in the template fail loudly."""

import json
import re

import pytest

from brainmri import config, readme


@pytest.fixture()
def saved_result():
    path = config.results_dir() / "99_example.json"
    path.write_text(json.dumps({"accuracy": 0.97345, "model": {"params": 123456, "speedup": 7.25}}))
    yield
    path.unlink()


def test_placeholders_are_filled_from_results(saved_result):
    text = "acc {{ 99_example.accuracy | pct }}, {{99_example.model.params|int}} params, {{ 99_example.model.speedup | x }}"
    assert readme.render(text) == "acc 97.3%, 123,456 params, 7.2x"


def test_keys_may_contain_dots_and_spaces():
    path = config.results_dir() / "99_dotted.json"
    path.write_text(json.dumps({"diff": {"tf.nn.conv2d (SAME)": 0.5, "tf": {"nn": 1}}}))
    assert readme.render("{{ 99_dotted.diff.tf.nn.conv2d (SAME) }} {{ 99_dotted.diff.tf.nn }}") == "0.5 1"


def test_table_placeholder_renders_rows():
    path = config.results_dir() / "99_table.json"
    path.write_text(json.dumps({"rows": [{"map": "Grad-CAM", "auc": 0.51234}, {"map": "random", "auc": 0.5}]}))
    assert readme.render("{{ table:99_table.rows }}") == (
        "| map | auc |\n|---|---|\n| Grad-CAM | 0.512 |\n| random | 0.500 |"
    )


def test_table_placeholder_rejects_a_scalar(saved_result):
    with pytest.raises(ValueError, match="needs a non-empty list of dicts"):
        readme.render("{{ table:99_example.accuracy }}")


def test_unformatted_placeholder_prints_the_value(saved_result):
    assert readme.render("{{ 99_example.model.params }}") == "123456"


def test_missing_key_names_the_file_and_key(saved_result):
    with pytest.raises(KeyError, match=r"99_example\.json has no 'f1'"):
        readme.render("{{ 99_example.f1 }}")


def test_missing_results_file_says_which_notebook_to_run():
    with pytest.raises(FileNotFoundError, match="no results named '98_absent'"):
        readme.render("{{ 98_absent.accuracy }}")


def test_unknown_format_is_rejected(saved_result):
    with pytest.raises(ValueError, match="unknown format 'percent'"):
        readme.render("{{ 99_example.accuracy | percent }}")


def test_badge_placeholder_links_the_notebook():
    assert "notebooks/03_cnn_classifier.ipynb" in readme.render("{{ badge:03_cnn_classifier.ipynb }}")


def test_text_without_placeholders_is_unchanged():
    assert readme.render("plain { braces } stay") == "plain { braces } stay"


@pytest.fixture()
def committed_outputs(monkeypatch):
    """Point results and figures at the repository's committed ones (conftest points them elsewhere)."""
    root = config.project_root()
    monkeypatch.setenv("BRAINMRI_RESULTS_DIR", str(root / "results"))
    monkeypatch.setenv("BRAINMRI_FIGURES_DIR", str(root / "figures"))
    return root


def test_committed_readme_is_the_rendered_template(committed_outputs):
    rendered = readme.render(readme.template_path().read_text())
    assert (committed_outputs / "README.md").read_text() == rendered, (
        "README.md is out of date: edit docs/README.template.md and run `python -m brainmri render-readme`"
    )


def test_readme_figures_exist_and_come_from_a_real_profile_run(committed_outputs):
    names = re.findall(r"\(figures/([\w-]+)\.png\)", (committed_outputs / "README.md").read_text())
    manifest = json.loads((committed_outputs / "figures" / "MANIFEST.json").read_text())
    assert names, "the README shows no figure"
    for name in names:
        assert (committed_outputs / "figures" / f"{name}.png").exists(), name
        assert manifest[name]["profile"] != "smoke", f"{name} was rendered by a smoke run"
