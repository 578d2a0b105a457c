"""`sam build` on template.yaml, as the README's Deploy section runs it: no Docker, no AWS account,
no local python3.14. Then the artefacts are checked for what can honestly be checked here.

The real build holds aarch64/cp314 wheels, which cannot be imported on this machine, so it is
checked statically (packages, versions, dependency closure, wheel tags, imports resolving); a second
build of the same template for this machine's platform and Python imports every handler for real,
against its built layer and a stand-in for the runtime's SDK, and nothing else.
"""

from __future__ import annotations

import ast
import email
import importlib.metadata
import os
import platform
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from rooms_local.cfn_yaml import load_yaml
from rooms_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"
LAYER_REQUIREMENTS = ROOT / "layers" / "rooms" / "requirements.txt"
# What the Lambda Python runtime ships: the layer must neither carry nor shadow it.
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "s3transfer", "jmespath", "urllib3", "python-dateutil", "six")
RUNTIME_MODULES = {"boto3", "botocore", "s3transfer", "jmespath", "urllib3", "dateutil", "six"}
# unpacked; it was 45 MB when it carried botocore. cryptography (the authorizer's RS256) adds about 7 MB
# that only the authorizer imports: a function loads what it imports, not the layer. livekit-api and what
# it imports (aiohttp, protobuf) add about 15 MB, loaded by the API only with ROOMS_MEDIA_PROVIDER=livekit
LAYER_SIZE_LIMIT = 48 * 2**20
# The runtime the template deploys to, for evaluating dependency markers.
TARGET = {
    "python_version": "3.14",
    "python_full_version": "3.14.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "aarch64",
    "os_name": "posix",
}

pytestmark = pytest.mark.xdist_group("sam_build")


def sam_env(**extra: str) -> dict[str, str]:
    """The environment of a sam command: offline-safe, and no credentials that could reach an account."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    env.update(
        SAM_CLI_TELEMETRY="0",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_CONFIG_FILE=os.devnull,
        AWS_SHARED_CREDENTIALS_FILE=os.devnull,
        PYTHON=str(SAM.parent / "python"),  # the layer Makefile's pip
        PIP_CACHE_DIR=str(ROOT / "build" / "pip-cache"),  # git-ignored: reruns download nothing
        **extra,
    )
    return env


def run_sam(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    assert SAM.exists(), "the SAM CLI is missing: run scripts/bootstrap"
    result = subprocess.run(
        [str(SAM), *args], cwd=ROOT, env=sam_env(**env), capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"sam {args[0]} failed:\n{result.stdout}\n{result.stderr}"
    return result


def build(build_dir: Path, **env: str) -> dict[str, Any]:
    run_sam("build", "--template-file", "template.yaml", "--build-dir", str(build_dir), **env)
    return load_yaml(build_dir / "template.yaml")


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    build_dir = tmp_path_factory.mktemp("sam") / "build"
    return build_dir, build(build_dir)


def resources_of(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {key: res for key, res in template["Resources"].items() if res["Type"] == kind}


def layer_dir(build_dir: Path, template: dict[str, Any]) -> Path:
    (layer,) = resources_of(template, "AWS::Serverless::LayerVersion").values()
    return build_dir / layer["Properties"]["ContentUri"] / "python"


def function_dirs(build_dir: Path, template: dict[str, Any]) -> dict[str, Path]:
    return {
        key: build_dir / res["Properties"]["CodeUri"]
        for key, res in resources_of(template, "AWS::Serverless::Function").items()
    }


def layer_distributions(site: Path) -> dict[str, email.message.Message]:
    """METADATA of every distribution installed in `site`, by canonical name."""
    found: dict[str, email.message.Message] = {}
    for info in site.glob("*.dist-info"):
        metadata = email.message_from_string((info / "METADATA").read_text(encoding="utf-8"))
        found[canonicalize_name(metadata["Name"])] = metadata
    return found


def pinned_requirements() -> list[Requirement]:
    lines = (line.split("#", 1)[0].strip() for line in LAYER_REQUIREMENTS.read_text().splitlines())
    return [Requirement(line) for line in lines if line]


def top_level_imports(source: Path) -> set[str]:
    """Absolute imports of a module, except those only type checkers see (`if TYPE_CHECKING:`)."""
    tree = ast.parse(source.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for statement in node.body for child in ast.walk(statement))
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def python_files(directory: Path) -> Iterator[Path]:
    return (path for path in sorted(directory.rglob("*.py")) if "__pycache__" not in path.parts)


# ---------------------------------------------------------------------- the deployed build
def test_every_function_and_the_layer_are_built(built: tuple[Path, dict[str, Any]]) -> None:
    build_dir, template = built
    source = load_yaml(ROOT / "template.yaml")
    assert function_dirs(build_dir, template).keys() == resources_of(source, "AWS::Serverless::Function").keys()
    for logical_id, directory in function_dirs(build_dir, template).items():
        assert (directory / "app.py").read_bytes() == (
            ROOT / source["Resources"][logical_id]["Properties"]["CodeUri"] / "app.py"
        ).read_bytes()
    layer = layer_dir(build_dir, template)
    shipped = {path.relative_to(layer / "rooms"): path.read_bytes() for path in python_files(layer / "rooms")}
    package = ROOT / "layers" / "rooms" / "rooms"
    assert shipped == {path.relative_to(package): path.read_bytes() for path in python_files(package)}
    assert not list(layer.rglob("__pycache__")), "the developer's compiled files must not ship"


def test_the_layer_holds_each_pinned_package_at_its_version(built: tuple[Path, dict[str, Any]]) -> None:
    installed = layer_distributions(layer_dir(*built))
    for requirement in pinned_requirements():
        name = canonicalize_name(requirement.name)
        assert name in installed, f"{name} is pinned but not in the layer"
        assert requirement.specifier.contains(installed[name]["Version"]), (name, installed[name]["Version"])
    assert installed.keys() == {canonicalize_name(r.name) for r in pinned_requirements()}


def test_the_layer_leaves_the_runtime_sdk_out_and_stays_small(built: tuple[Path, dict[str, Any]]) -> None:
    layer = layer_dir(*built)
    assert not RUNTIME_MODULES & {path.name.removesuffix(".py") for path in layer.iterdir()}
    assert not {canonicalize_name(name) for name in RUNTIME_DISTRIBUTIONS} & layer_distributions(layer).keys()
    size = sum(path.stat().st_size for path in layer.rglob("*") if path.is_file())
    assert size <= LAYER_SIZE_LIMIT, f"the layer is {size / 2**20:.1f} MiB unpacked"


def test_every_dependency_of_the_layer_is_in_it_or_in_the_runtime(built: tuple[Path, dict[str, Any]]) -> None:
    # requirements.txt is installed with --no-deps: a dependency left out would only fail on AWS.
    installed = layer_distributions(layer_dir(*built))
    extras: dict[str, set[str]] = {canonicalize_name(r.name): r.extras for r in pinned_requirements()}
    runtime = {canonicalize_name(name) for name in RUNTIME_DISTRIBUTIONS}
    missing = []
    for name, metadata in installed.items():
        for text in metadata.get_all("Requires-Dist") or []:
            requirement = Requirement(text)
            wanted = ["", *sorted(extras.get(name, set()))]
            if requirement.marker and not any(
                requirement.marker.evaluate({**TARGET, "extra": extra}) for extra in wanted
            ):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency in runtime:
                continue
            if dependency not in installed or not requirement.specifier.contains(
                installed[dependency]["Version"], prereleases=True
            ):
                missing.append(f"{name} needs {requirement}")
    assert not missing


def test_binary_modules_are_built_for_the_lambda_runtime(built: tuple[Path, dict[str, Any]]) -> None:
    binaries = list(layer_dir(*built).rglob("*.so"))
    assert binaries, "pydantic-core ships a compiled module"
    assert all(".cpython-314-aarch64-linux-gnu." in path.name or ".abi3." in path.name for path in binaries)


def test_every_import_of_the_handlers_and_the_layer_resolves(built: tuple[Path, dict[str, Any]]) -> None:
    build_dir, template = built
    layer = layer_dir(build_dir, template)
    available = {path.name.removesuffix(".py") for path in layer.iterdir()} | RUNTIME_MODULES
    available |= set(sys.stdlib_module_names)
    sources = [directory / "app.py" for directory in function_dirs(build_dir, template).values()]
    sources += python_files(layer / "rooms")
    unresolved = {
        f"{source.relative_to(build_dir)}: {name}"
        for source in sources
        for name in top_level_imports(source) - available
    }
    assert not unresolved


def test_sam_validate_with_lint_passes() -> None:
    run_sam("validate", "--lint", "--template-file", "template.yaml")


# ---------------------------------------------------------------------- a build this machine can run
@pytest.fixture(scope="module")
def runtime_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with just the SDK the Lambda runtime ships, linked from the dev virtualenv."""
    folder = tmp_path_factory.mktemp("runtime-sdk")
    for name in RUNTIME_DISTRIBUTIONS:
        distribution = importlib.metadata.distribution(name)
        tops = {Path(str(file)).parts[0] for file in distribution.files or []}
        for top in tops - {"..", "bin", "__pycache__"}:
            (folder / top).symlink_to(Path(str(distribution.locate_file(top))))
    return folder


def test_each_handler_imports_against_its_built_layer(
    tmp_path_factory: pytest.TempPathFactory, runtime_sdk: Path
) -> None:
    build_dir = tmp_path_factory.mktemp("sam-local") / "build"
    template = build(
        build_dir,
        LAYER_PLATFORM=f"manylinux2014_{platform.machine()}",
        LAYER_PYTHON_VERSION=f"{sys.version_info.major}.{sys.version_info.minor}",
    )
    layer = layer_dir(build_dir, template)
    functions = load_template(ROOT / "template.yaml").functions  # each function's resolved environment
    for logical_id, directory in function_dirs(build_dir, template).items():
        # -I -S: the standard library only; then exactly what Lambda puts on the path
        probe = (
            "import sys; sys.path[:0] = sys.argv[1:]; import app; "
            "assert callable(app.lambda_handler); "
            "assert not [m.__file__ for m in list(sys.modules.values()) "
            "if 'site-packages' in (getattr(m, '__file__', None) or '')]"
        )
        result = subprocess.run(
            [sys.executable, "-I", "-S", "-c", probe, str(directory), str(layer), str(runtime_sdk)],
            env={
                **functions[logical_id].environment,
                "PATH": os.environ.get("PATH", ""),
                "AWS_REGION": "us-east-1",
                "AWS_ACCESS_KEY_ID": "local",
                "AWS_SECRET_ACCESS_KEY": "local",
            },
            capture_output=True,
            text=True,
            check=False,
            cwd=directory,
        )
        assert result.returncode == 0, f"{logical_id} does not import:\n{result.stderr}"
