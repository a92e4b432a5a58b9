"""The wheel a packager builds, and ``python -m recovery_ledger`` as a user runs it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ..conftest import REPO, run_cli
from ..unit.test_packaging import PACKAGE, pyproject, source_packages

pytestmark = pytest.mark.slow

_NOT_SOURCE = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis"
)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel . --no-deps`` on a clean copy of the source, so no build/ is left behind."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(REPO, source, ignore=_NOT_SOURCE)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(work / "dist")],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = (work / "dist").glob("*.whl")
    return found


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_wheel_holds_exactly_one_top_level_package(wheel: Path) -> None:
    top = {name.split("/")[0] for name in _names(wheel) if ".dist-info/" not in name}
    assert top == {PACKAGE}


def test_the_wheel_holds_every_package_of_the_source_tree(wheel: Path) -> None:
    packaged = {
        name.removesuffix("/__init__.py").replace("/", ".")
        for name in _names(wheel)
        if name.endswith("/__init__.py")
    }
    assert packaged == source_packages() == set(pyproject()["tool"]["setuptools"]["packages"])
    assert f"{PACKAGE}/py.typed" in _names(wheel)
    assert not any(name.startswith(f"{PACKAGE}/tests/") for name in _names(wheel))


def test_the_wheel_carries_the_version_and_the_licence(wheel: Path) -> None:
    version = pyproject()["project"]["version"]
    assert wheel.name.startswith(f"recovery_ledger-{version}-")
    info = f"recovery_ledger-{version}.dist-info"
    with zipfile.ZipFile(wheel) as archive:
        metadata = archive.read(f"{info}/METADATA").decode()
        licence = archive.read(f"{info}/licenses/LICENSE").decode()
    assert f"Version: {version}\n" in metadata
    assert "License-Expression: Apache-2.0\n" in metadata
    assert licence == (REPO / "LICENSE").read_text(encoding="utf-8")
    entry_points = zipfile.ZipFile(wheel).read(f"{info}/entry_points.txt").decode()
    assert "recovery-ledger = recovery_ledger.__main__:main" in entry_points


def test_python_dash_m_prints_the_version() -> None:
    result = run_cli("--version")
    assert result.code == 0
    assert result.stdout.strip() == pyproject()["project"]["version"]
