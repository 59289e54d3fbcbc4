"""Installing in Colab moves nothing Colab ships: requirements.txt against Colab's GPU package list.

``pip install -e .`` installs requirements.txt (pyproject.toml reads its dependencies from it). If a
requirement names a package Colab ships but excludes Colab's version, pip upgrades or downgrades it
under Colab's own pins; if it names a package Colab lacks, pip installs it with whatever it needs,
which can move what Colab ships (``jupyter`` pulls in JupyterLab, which upgrades jupyter_server).
So every requirement must be a package Colab ships, at a version the range admits. The list is
vendored in tests/data/colab-gpu-pip-freeze.txt; its header says where and when it came from.
"""

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
COLAB_FREEZE = Path(__file__).parent / "data" / "colab-gpu-pip-freeze.txt"


def read_requirements(path: Path) -> list[Requirement]:
    """The requirements in a pip requirements file; includes (``-r``) and options are not followed."""
    lines = (line.split(" #")[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith(("#", "-"))]


def read_freeze(path: Path) -> dict[str, Version | None]:
    """Package -> version from ``pip freeze`` output; None for packages installed from a URL."""
    shipped: dict[str, Version | None] = {}
    for line in path.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, sep, version = line.partition("==")
        if sep:
            shipped[canonicalize_name(name)] = Version(version)
        else:
            shipped[canonicalize_name(line.split("@")[0].strip())] = None
    return shipped


def colab_python(path: Path) -> str:
    """Colab's Python version, from the cpXYZ tags of the wheels its list names by URL."""
    tags = set(re.findall(r"-cp(\d)(\d+)-", path.read_text()))
    assert len(tags) == 1, f"{path.name}: expected one cpXY wheel tag, found {sorted(tags)}"
    major, minor = tags.pop()
    return f"{major}.{minor}"


def moves_colab(requirements: list[Requirement], shipped: dict[str, Version | None]) -> list[str]:
    """One line per requirement that would make pip change Colab's environment; empty if none."""
    problems = []
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        if name not in shipped:
            problems.append(f"{requirement}: Colab does not ship {requirement.name}; pip would install it "
                            "and whatever it needs (move it to requirements-local.txt)")
        elif requirement.extras:
            problems.append(f"{requirement}: extras can pull in packages Colab does not ship")
        elif shipped[name] is None:
            if str(requirement.specifier):
                problems.append(f"{requirement}: Colab installs {requirement.name} from a URL; leave it unpinned")
        elif not requirement.specifier.contains(shipped[name], prereleases=True):
            problems.append(f"{requirement}: Colab ships {requirement.name}=={shipped[name]}, which the range "
                            "excludes, so pip would upgrade or downgrade it")
    return problems


@pytest.fixture(scope="module")
def shipped():
    return read_freeze(COLAB_FREEZE)


def test_requirements_move_nothing_colab_ships(shipped):
    assert moves_colab(read_requirements(ROOT / "requirements.txt"), shipped) == []


def test_the_design_packages_are_required():
    names = {canonicalize_name(r.name) for r in read_requirements(ROOT / "requirements.txt")}
    assert {"tensorflow", "keras", "numpy", "matplotlib", "opencv-python-headless", "scikit-learn",
            "pillow", "kagglehub", "ipykernel", "nbformat", "nbclient"} <= names
    local = {canonicalize_name(r.name) for r in read_requirements(ROOT / "requirements-local.txt")}
    assert "jupyter" in local and "jupyter" not in names


def test_pip_install_dash_e_installs_requirements_txt_and_nothing_else():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert project["dynamic"] == ["dependencies"] and "optional-dependencies" not in project
    assert setuptools["dynamic"]["dependencies"] == {"file": ["requirements.txt"]}


def test_colab_python_satisfies_requires_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert Version(colab_python(COLAB_FREEZE)) in SpecifierSet(project["requires-python"])


def test_local_files_include_the_runtime_requirements():
    """make installs requirements-dev.txt, which must bring requirements-local.txt and requirements.txt."""
    assert "-r requirements.txt" in (ROOT / "requirements-local.txt").read_text().splitlines()
    assert "-r requirements-local.txt" in (ROOT / "requirements-dev.txt").read_text().splitlines()


def test_the_vendored_list_is_colabs_gpu_image():
    shipped = read_freeze(COLAB_FREEZE)
    assert len(shipped) > 500 and shipped["tensorflow"] >= Version("2.17") and "google-colab" in shipped
    assert "github.com/googlecolab/backend-info" in COLAB_FREEZE.read_text().split("absl-py")[0]


@pytest.mark.parametrize("line, complaint", [
    ("numpy>=2.1", "Colab ships numpy==2.0.2, which the range excludes"),           # an upgrade
    ("keras<3.10", "Colab ships keras==3.13.2, which the range excludes"),          # a downgrade
    ("tensorflow==2.19.0", "Colab ships tensorflow==2.20.0"),
    ("jupyter", "Colab does not ship jupyter"),
    ("Scikit_Learn[benchmark]", "extras can pull in packages"),
    ("google-colab>=1.0", "from a URL; leave it unpinned"),
])
def test_checker_names_what_pip_would_move(shipped, line, complaint):
    problems = moves_colab([Requirement(line)], shipped)
    assert len(problems) == 1 and complaint in problems[0] and problems[0].startswith(line)


@pytest.mark.parametrize("line", ["numpy>=1.26", "Scikit_Learn>=1.4", "tensorflow>=2.17,<2.22", "torch>=2.11",
                                  "opencv-python-headless", "google-colab"])
def test_checker_accepts_what_colab_satisfies(shipped, line):
    assert moves_colab([Requirement(line)], shipped) == []


def test_reader_skips_comments_includes_and_options(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("# comment\n-r other.txt\n--index-url x\n\nnumpy>=1  # why\nkeras\n")
    assert [str(r) for r in read_requirements(path)] == ["numpy>=1", "keras"]

