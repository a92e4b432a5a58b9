"""pyproject.toml against the source tree: the package list, the version, the licence."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "recovery_ledger"
_NOT_PACKAGES = {".venv", ".git", "build", "tests", "bench"}


def pyproject() -> dict[str, Any]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def source_packages(root: Path = ROOT) -> set[str]:
    """Every folder of the package holding an ``__init__.py``, as a dotted name."""
    found = {PACKAGE} if (root / "__init__.py").exists() else set()
    for init in root.rglob("__init__.py"):
        relative = init.parent.relative_to(root)
        if relative.parts and relative.parts[0] not in _NOT_PACKAGES:
            found.add(".".join([PACKAGE, *relative.parts]))
    return found


def test_every_folder_with_an_init_is_in_the_package_list_and_nothing_else() -> None:
    listed = set(pyproject()["tool"]["setuptools"]["packages"])
    assert listed == source_packages()


def test_the_recorded_app_version_is_the_distributions_version() -> None:
    from recovery_ledger.infra.version import __version__

    assert __version__ == pyproject()["project"]["version"]


def test_the_licence_file_is_the_one_pyproject_declares() -> None:
    project = pyproject()["project"]
    assert project["license"] == "Apache-2.0"
    assert project["license-files"] == ["LICENSE"]
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the full text, not a pointer to it


def test_the_changelog_starts_with_this_release() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    version = pyproject()["project"]["version"]
    releases = [line for line in text.splitlines() if line.startswith("## [")]
    assert releases[0].startswith(f"## [{version}]")
