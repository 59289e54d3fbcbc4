"""The Colab set-up cell: identical in every notebook, inert outside Colab, idempotent inside it.

Colab is simulated: a fake ``google.colab`` module (with a fake ``drive.mount``), a temporary folder
standing in for /content, and a fake ``subprocess.run`` that plays git, pip and a fresh Python asked
to ``import brainmri`` (which succeeds once the fake pip has installed the package). A "kernel" is
the state a Colab restart throws away: globals, ``sys.path``, environment variables and the working
directory; the files under /content survive it, as on a real VM.
"""

import os
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest

from brainmri import colab, config
from brainmri.colab import REPO_DIR, REPO_URL, SETUP_CELL, colab_badge
from brainmri.notebooks import list_notebooks

SESSION_ENV = (config.PROFILE_ENV, *(colab.drive_env(name) for name in colab.DRIVE_DIRS))
IMPORT_CHECK = [sys.executable, "-c", "import brainmri"]


class FakeColab:
    """The VM: what git, pip and ``drive.mount`` leave on disk persists across kernels."""

    def __init__(self, root: Path, monkeypatch):
        self.root = root
        self.repo = root / REPO_DIR
        self.installed = False
        self.fail_pip = False
        self.commands: list[list[str]] = []
        self.mounts: list[str] = []
        self._monkeypatch = monkeypatch
        self._clean_path = list(sys.path)
        self._cwd = os.getcwd()
        module = types.ModuleType("google.colab")
        module.drive = types.SimpleNamespace(mount=self._mount)
        monkeypatch.setitem(sys.modules, "google.colab", module)
        monkeypatch.setenv(colab.COLAB_ROOT_ENV, str(root))
        monkeypatch.setattr(subprocess, "run", self._run)
        for key in SESSION_ENV:
            monkeypatch.delenv(key, raising=False)
        self.restart()

    def _mount(self, mountpoint: str) -> None:
        self.mounts.append(mountpoint)
        (Path(mountpoint) / "MyDrive").mkdir(parents=True, exist_ok=True)

    def _run(self, cmd, check=False, **kwargs):
        self.commands.append(list(cmd))
        returncode = 0
        if cmd[:2] == ["git", "clone"]:
            (Path(cmd[-1]) / ".git").mkdir(parents=True)
            (Path(cmd[-1]) / "notebooks").mkdir()
        elif cmd == IMPORT_CHECK:
            returncode = 0 if self.installed else 1
        elif cmd[:4] == [sys.executable, "-m", "pip", "install"]:
            returncode = 1 if self.fail_pip else 0
            self.installed = not self.fail_pip
        else:
            raise AssertionError(f"the set-up cell ran an unexpected command: {cmd}")
        if check and returncode:
            raise subprocess.CalledProcessError(returncode, cmd)
        return subprocess.CompletedProcess(cmd, returncode)

    def restart(self) -> None:
        """Colab's "Restart session": a new interpreter on the same VM."""
        self.kernel_globals: dict = {}
        self._monkeypatch.setattr(sys, "path", list(self._clean_path))
        for key in SESSION_ENV:
            os.environ.pop(key, None)
        os.chdir(self._cwd)

    def run_cell(self, source: str = SETUP_CELL) -> list[list[str]]:
        """Run the cell in the current kernel; the commands it ran."""
        before = len(self.commands)
        exec(compile(source, "setup-cell", "exec"), self.kernel_globals)
        return self.commands[before:]


@pytest.fixture
def vm(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return FakeColab(tmp_path / "content", monkeypatch)


def _edited(line: str, replacement: str) -> str:
    """The set-up cell with one of its settings lines changed, as a user would."""
    assert SETUP_CELL.count(line) == 1, f"the set-up cell has no single line {line!r}"
    return SETUP_CELL.replace(line, replacement)


def _assert_ready(vm: FakeColab, profile: str = "default") -> None:
    src = str(vm.repo / "src")
    assert sys.path.count(src) == 1 and sys.path[0] == src
    assert Path.cwd() == vm.repo / "notebooks"
    assert os.environ[config.PROFILE_ENV] == profile


def test_setup_cell_does_nothing_outside_colab(tmp_path, monkeypatch):
    monkeypatch.delitem(sys.modules, "google.colab", raising=False)
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail(f"ran {a}"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    path_before, env_before = list(sys.path), dict(os.environ)
    exec(compile(SETUP_CELL, "setup-cell", "exec"), {})
    assert sys.path == path_before and dict(os.environ) == env_before and Path.cwd() == tmp_path


def test_first_run_clones_installs_and_sets_up_the_session(vm, capsys):
    assert vm.run_cell() == [
        ["git", "clone", "--depth", "1", REPO_URL, str(vm.repo)],
        IMPORT_CHECK,
        [sys.executable, "-m", "pip", "install", "-q", "-e", str(vm.repo)],
    ]
    _assert_ready(vm)
    assert vm.mounts == [] and not any(colab.drive_env(n) in os.environ for n in colab.DRIVE_DIRS)
    assert "profile default" in capsys.readouterr().out


def test_rerun_in_the_same_session_only_checks_the_import(vm):
    vm.run_cell()
    assert vm.run_cell() == [IMPORT_CHECK]
    _assert_ready(vm)


def test_failed_install_is_retried_by_the_next_run(vm):
    vm.fail_pip = True
    with pytest.raises(subprocess.CalledProcessError):
        vm.run_cell()
    assert str(vm.repo / "src") not in sys.path
    vm.fail_pip = False
    assert vm.run_cell() == [IMPORT_CHECK, [sys.executable, "-m", "pip", "install", "-q", "-e", str(vm.repo)]]
    _assert_ready(vm)


def test_after_restart_the_installed_package_is_reused_and_the_session_rebuilt(vm):
    vm.run_cell()
    vm.restart()
    assert str(vm.repo / "src") not in sys.path and config.PROFILE_ENV not in os.environ
    assert vm.run_cell() == [IMPORT_CHECK]
    _assert_ready(vm)


def test_profile_is_one_line(vm):
    vm.run_cell(_edited('PROFILE = "default"', 'PROFILE = "smoke"'))
    _assert_ready(vm, profile="smoke")
    assert config.get_profile().name == "smoke"


def test_unknown_profile_stops_with_the_valid_names(vm):
    with pytest.raises(ValueError, match=r"unknown profile 'fast'.*'default', 'full', 'smoke'"):
        vm.run_cell(_edited('PROFILE = "default"', 'PROFILE = "fast"'))


def test_drive_keeps_runs_results_and_figures_when_opted_in(vm):
    vm.run_cell(_edited("USE_DRIVE = False", "USE_DRIVE = True"))
    folder = vm.root / "drive" / "MyDrive" / "brainmri"
    assert vm.mounts == [str(vm.root / "drive")]
    assert (config.runs_dir(), config.results_dir(), config.figures_dir()) == (
        folder / "runs", folder / "results", folder / "figures")
    _assert_ready(vm)

    vm.run_cell()  # opted out again in the same session: outputs back on the VM
    assert not any(colab.drive_env(name) in os.environ for name in colab.DRIVE_DIRS)
    assert vm.mounts == [str(vm.root / "drive")]


def test_drive_setting_survives_a_restart_by_running_the_cell_again(vm):
    drive_cell = _edited("USE_DRIVE = False", "USE_DRIVE = True")
    vm.run_cell(drive_cell)
    vm.restart()
    vm.run_cell(drive_cell)
    assert os.environ[colab.drive_env("runs")] == str(vm.root / "drive" / "MyDrive" / "brainmri" / "runs")
    assert len(vm.mounts) == 2


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_every_notebook_starts_with_the_setup_cell(path):
    first = nbformat.read(path, as_version=4).cells[0]
    assert first.cell_type == "code" and first.source == SETUP_CELL, (
        f"{path.name}: the first cell must be brainmri.colab.SETUP_CELL"
    )


@pytest.mark.parametrize("path", list_notebooks(), ids=lambda p: p.stem)
def test_repository_address_in_notebooks_comes_from_repo_url(path):
    """Every mention of the repository is the set-up cell or the notebook's own badge, both made from REPO_URL."""
    repo_path = REPO_URL.removeprefix("https://github.com/")
    text = "\n".join(cell.source for cell in nbformat.read(path, as_version=4).cells)
    leftover = text.replace(SETUP_CELL, "").replace(colab_badge(path.name), "")
    assert repo_path not in leftover, f"{path.name} names the repository other than through brainmri.colab"


def test_badge_opens_the_notebook_from_the_repository():
    badge = colab_badge("05_grad_cam.ipynb")
    repo_path = REPO_URL.removeprefix("https://github.com/")
    assert f"colab.research.google.com/github/{repo_path}/blob/main/notebooks/05_grad_cam.ipynb" in badge
