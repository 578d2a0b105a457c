"""The SDK stands alone: an interpreter that sees only the standard library, the SDK and the dependencies
sdk/pyproject.toml declares (with theirs) imports every SDK module, mints a dev token, and `rooms simulate`
asks for its extra. Offline, from the installed files: the registry install itself is checked by hand
(`pip install ./sdk` into a new virtualenv, see the SDK's README)."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

SDK = Path(__file__).resolve().parents[2] / "sdk"
PROJECT = tomllib.loads((SDK / "pyproject.toml").read_text())["project"]

CHECK = """
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])
import rooms_client
import sniffio  # httpcore asks for it on every async lock: a storm must not retry a failed import
from rooms_client.cli import main
from rooms_client.simulate.command import has_simulate_extra

modules = [info.name for info in pkgutil.walk_packages(rooms_client.__path__, "rooms_client.")]
for name in modules:
    importlib.import_module(name)
assert rooms_client.mint_dev_token("alice").count(".") == 2
print("modules", len(modules), "live" if "websockets" in sys.modules else "no websockets")
print("outside", sorted(name for name in ("rooms", "rooms_local", "matplotlib") if name in sys.modules))
print("extra", has_simulate_extra())
if not has_simulate_extra():
    print("simulate exit", main(["simulate", "--users", "1", "--no-progress"]))
"""


def dependency_closure(requirements: list[str]) -> set[str]:
    """The distributions these requirements install, theirs included (markers evaluated here, no extras)."""
    found: set[str] = set()
    pending = [Requirement(text) for text in requirements]
    while pending:
        requirement = pending.pop()
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = importlib.metadata.distribution(requirement.name).metadata["Name"]
        if name not in found:
            found.add(name)
            pending += [Requirement(text) for text in importlib.metadata.requires(name) or []]
    return found


def site_of(tmp_path: Path, requirements: list[str]) -> Path:
    """A site directory with only the SDK's package and these distributions' files (links to this venv's)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "rooms_client").symlink_to(SDK / "src" / "rooms_client")
    for name in dependency_closure(requirements):
        distribution = importlib.metadata.distribution(name)
        for top in {file.parts[0] for file in distribution.files or [] if file.parts[0] != ".."}:
            link = site / top
            if not link.exists():
                link.symlink_to(Path(str(distribution.locate_file(top))))
    return site


def run_alone(site: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    # -I: no PYTHONPATH, no user site, not the working directory; -S: not this venv's site-packages
    command = [sys.executable, "-I", "-S", "-c", CHECK, str(site)]
    return subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, check=False, timeout=120)


def test_the_sdk_imports_with_only_its_declared_dependencies(tmp_path: Path) -> None:
    # GIVEN a site holding the SDK, httpx, PyJWT, sniffio and websockets (and their dependencies), nothing else
    site = site_of(tmp_path, PROJECT["dependencies"])
    assert not (site / "matplotlib").exists() and not (site / "rooms_local").exists()
    # WHEN an isolated interpreter imports every SDK module and asks for a storm
    run = run_alone(site, tmp_path)
    # THEN all import, nothing else was reached, and the storm asks for the extra before it starts
    assert run.returncode == 0, run.stderr
    assert "outside []" in run.stdout and "extra False" in run.stdout and " live" in run.stdout
    assert "simulate exit 2" in run.stdout
    assert "pip install 'rooms-client[simulate]'" in run.stderr


def test_the_simulate_extra_brings_the_chart(tmp_path: Path) -> None:
    site = site_of(tmp_path, PROJECT["dependencies"] + PROJECT["optional-dependencies"]["simulate"])
    run = run_alone(site, tmp_path)
    assert run.returncode == 0, run.stderr
    assert "extra True" in run.stdout
