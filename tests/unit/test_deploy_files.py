"""The deployment files (docker-compose.yml, deploy/Dockerfile, .dockerignore), checked without a Docker engine."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in requirements-dev.txt
import pytest
import yaml

from zorg_claims.settings import ClaimsSettings
from zorg_common.settings import ServiceSettings
from zorg_contracting.settings import ContractingSettings
from zorg_eligibility.settings import EligibilitySettings
from zorg_publication.settings import PublicationSettings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
INIT_SQL = ROOT / "deploy" / "postgres" / "init.sql"

SETTINGS: dict[str, type[ServiceSettings]] = {
    "eligibility": EligibilitySettings,
    "contracting": ContractingSettings,
    "claims": ClaimsSettings,
    "publication": PublicationSettings,
}
PORTS = {"eligibility": [8001], "contracting": [8002, 2525], "claims": [8003], "publication": [8004]}
#: What an operator exports before `docker compose up`; neither has a default in the file.
OPERATOR_ENV = {"ZORG_JWT_SECRET": "0123456789abcdef" * 4, "POSTGRES_PASSWORD": "5f1e2d3c4b5a6978"}
PLATFORM_IMAGES = ("postgres:15", "apache/kafka:")

_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}``, enough for this file."""

    def one(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"] or "", match["arg"]
        if env.get(name):
            return env[name]
        if op.endswith("?"):
            raise AssertionError(f"{name} is required: {arg}")
        return arg if op.endswith("-") else ""

    return _VARIABLE.sub(one, value)


def dockerfile_instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, rest = (pending + line).partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        pending = ""
    return instructions


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def platform_containers() -> list[tuple[str, str, str]]:
    """(compose service, zorg service, role) of every API, worker and relay."""
    return [
        (name if role == "api" else f"{name}-{role}", name, role)
        for name in SETTINGS
        for role in ("api", "worker", "relay")
    ]


def _compose_command() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_accepts_the_file_and_insists_on_the_secret() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("neither docker-compose nor the docker compose plugin is installed")
    base = {k: v for k, v in os.environ.items() if k not in OPERATOR_ENV and not k.startswith("COMPOSE_")}
    run = [*command, "--project-directory", str(ROOT), "-f", str(COMPOSE), "config", "-q"]

    accepted = subprocess.run(run, env={**base, **OPERATOR_ENV}, capture_output=True, text=True, timeout=120)
    assert accepted.returncode == 0, accepted.stderr

    without_secret = {**base, "POSTGRES_PASSWORD": OPERATOR_ENV["POSTGRES_PASSWORD"]}
    refused = subprocess.run(run, env=without_secret, capture_output=True, text=True, timeout=120)
    assert refused.returncode != 0
    assert "set ZORG_JWT_SECRET" in refused.stdout + refused.stderr


def test_the_file_follows_the_compose_specification(compose: dict[str, Any]) -> None:
    try:
        dist = metadata.distribution("check-jsonschema")
    except metadata.PackageNotFoundError:
        pytest.skip("check-jsonschema (which ships the Compose Specification's JSON schema) is not installed")
    schema = json.loads(
        Path(str(dist.locate_file("check_jsonschema/builtin_schemas/vendor/compose-spec.json"))).read_text()
    )
    validator_cls = jsonschema.validators.validator_for(schema)
    validator_cls.check_schema(schema)
    errors = sorted(validator_cls(schema).iter_errors(compose), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors)


def test_every_service_has_an_api_a_worker_and_a_relay(services: dict[str, dict[str, Any]]) -> None:
    for container, name, role in platform_containers():
        assert container in services, f"{container} is missing"
        spec = services[container]
        expected = ["zorg", "serve", name, "--host", "0.0.0.0"] if role == "api" else ["zorg", role, name]
        assert spec["command"] == expected, container
        assert spec["restart"] == "unless-stopped", container
        assert "container_name" not in spec, f"{container} could not be scaled with a fixed container name"
        if role == "api":
            assert spec["environment"]["ZORG_RUN_WORKERS"] == "false", container
            probe = " ".join(spec["healthcheck"]["test"])
            assert f"127.0.0.1:{PORTS[name][0]}/healthz" in probe and "python" in probe, container
            assert "curl" not in probe, f"{container}: slim images have no curl"
        else:
            assert "ports" not in spec, f"{container} publishes nothing and must scale freely"
            probe_port = spec["environment"]["ZORG_PROBE_PORT"]
            test = " ".join(spec["healthcheck"]["test"])
            assert f"http://127.0.0.1:{probe_port}/readyz" in test and "python" in test, container
            assert "curl" not in test, f"{container}: slim images have no curl"


def test_each_service_shares_one_image_built_from_the_one_dockerfile(services: dict[str, dict[str, Any]]) -> None:
    for container, name, _ in platform_containers():
        spec = services[container]
        assert spec["build"]["dockerfile"] == "deploy/Dockerfile", container
        assert spec["build"]["args"]["SERVICE"] == name, container
        assert spec["image"] == services[name]["image"], f"{container} runs another image than its API"
    for container, spec in services.items():
        if "build" in spec:
            context = (ROOT / spec["build"]["context"]).resolve()
            assert context == ROOT, f"{container}: the build context must be the repository root"
            assert (context / spec["build"]["dockerfile"]).is_file(), container
        else:
            image = interpolate(spec["image"], {})
            assert image.startswith(PLATFORM_IMAGES), f"{container}: {image} is neither built nor known"


def dockerfile_stages(path: Path) -> list[list[tuple[str, str]]]:
    """The instructions of each build stage, in order (global ARGs before the first FROM dropped)."""
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions(path):
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def test_one_dockerfile_builds_every_service() -> None:
    assert not list(ROOT.glob("services/*/Dockerfile")), "one Dockerfile for all services: deploy/Dockerfile"
    text = DOCKERFILE.read_text()
    choices = re.search(r"case \"\$SERVICE\" in\s*\\?\s*([\w|]+)\)", text)
    assert choices is not None, "the builder must refuse an unknown SERVICE"
    assert set(choices[1].split("|")) == set(SETTINGS)
    assert "SERVICE=all" in text and "embedded" not in text, "no bundled development broker in an image"


def test_the_base_image_is_pinned_by_digest() -> None:
    instructions = dockerfile_instructions(DOCKERFILE)
    (base,) = [a.split("=", 1)[1] for kw, a in instructions if kw == "ARG" and a.startswith("PYTHON_IMAGE=")]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+@sha256:[0-9a-f]{64}", base), base
    assert [a.split()[0] for kw, a in instructions if kw == "FROM"] == ["${PYTHON_IMAGE}", "${PYTHON_IMAGE}"]


def test_the_builder_installs_the_lock_with_hashes_and_resolves_nothing_else() -> None:
    builder, _ = dockerfile_stages(DOCKERFILE)
    runs = [a for kw, a in builder if kw == "RUN"]
    copied = [a for kw, a in builder if kw == "COPY"]
    assert "requirements/runtime.lock requirements/runtime.lock" in copied
    (from_lock,) = [r for r in runs if "-r requirements/runtime.lock" in r]
    assert "--require-hashes" in from_lock and "venv --without-pip" in from_lock
    (ours,) = [r for r in runs if "libs/common" in r]
    assert "--no-deps" in ours and "--no-build-isolation" in ours
    for run in runs:
        for install in re.findall(r"pip [^&]*? install [^&]*", run):
            assert "-r requirements/runtime.lock" in install or "--no-deps" in install, install


def test_the_runtime_stage_runs_as_non_root_without_pip_and_is_labelled() -> None:
    _, runtime = dockerfile_stages(DOCKERFILE)
    runs = " ".join(a for kw, a in runtime if kw == "RUN")
    assert "pip install" not in runs and "pip --python" not in runs, "no pip in the runtime stage"
    assert "/usr/local/bin/pip*" in runs and "site-packages/pip*" in runs, "the base image's pip must go"
    assert [a for kw, a in runtime if kw == "COPY"] == ["--from=builder /opt/zorg /opt/zorg"]
    users = [a for kw, a in runtime if kw == "USER"]
    assert users and re.fullmatch(r"[1-9]\d*:[1-9]\d*", users[-1]), "a numeric non-root user (runAsNonRoot)"
    labels = " ".join(a for kw, a in runtime if kw == "LABEL")
    for key in ("title", "description", "version", "revision", "created", "vendor", "base.name"):
        assert f"org.opencontainers.image.{key}=" in labels, key
    command = json.loads([a for kw, a in runtime if kw == "CMD"][-1])
    assert command[-1] == 'exec zorg serve "$ZORG_SERVICE" --host 0.0.0.0'
    assert "ZORG_SERVICE=${SERVICE}" in " ".join(a for kw, a in runtime if kw == "ENV")


def test_the_dockerignore_keeps_the_context_small() -> None:
    patterns = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for needed in (".git", ".venv", "var", "tests", "bench", "**/__pycache__", "**/*.egg-info", ".env"):
        assert needed in patterns, needed
    assert not patterns & {"libs", "libs/common", "services"}


def test_the_environment_suits_production(services: dict[str, dict[str, Any]]) -> None:
    for container, name, _ in platform_containers():
        env = services[container]["environment"]
        assert env["ZORG_ENV"] == "production", container
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092", container
        assert str(env["KAFKA_ENABLE_IDEMPOTENCE"]).lower() == "true", container
        assert re.fullmatch(rf"postgresql://[^@]+@postgres:5432/{name}", env["DATABASE_URL"]), container
        if name == "contracting":
            assert env["ELIGIBILITY_URL"] == "http://eligibility:8001", container
            assert str(env["SMTP_PORT"]) == "2525", container


def test_no_secret_has_a_default(services: dict[str, dict[str, Any]]) -> None:
    uses = re.findall(r"\$\{(ZORG_JWT_SECRET|POSTGRES_PASSWORD)([^}]*)\}", COMPOSE.read_text())
    assert uses, "the secrets must come from the operator's environment"
    for name, rest in uses:
        assert not rest.startswith(("-", ":-")), f"{name} has a default"
    for container, spec in services.items():
        for key, value in (spec.get("environment") or {}).items():
            if key == "ZORG_JWT_SECRET":
                assert re.fullmatch(r"\$\{ZORG_JWT_SECRET:\?[^}]+\}", value), f"{container}: {key}={value}"
            elif re.search(r"SECRET|PASSWORD", key):
                assert re.fullmatch(r"\$\{\w+:?\?[^}]+\}", str(value)), f"{container}: {key} has a literal value"


@pytest.mark.parametrize(("container", "name", "role"), platform_containers())
def test_the_settings_accept_each_containers_environment(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch, container: str, name: str, role: str
) -> None:
    """ZORG_ENV=production refuses weak settings at start-up: it must accept what compose passes."""
    for key in list(os.environ):
        if key.endswith("DATABASE_URL") or key.startswith(("ZORG_", "KAFKA_", "SMTP_", "ELIGIBILITY_")):
            monkeypatch.delenv(key)
    for key, value in services[container]["environment"].items():
        monkeypatch.setenv(key, interpolate(str(value), OPERATOR_ENV))
    settings = SETTINGS[name](_env_file=None)  # type: ignore[call-arg]
    assert settings.ZORG_ENV == "production"
    assert settings.KAFKA_ENABLE_IDEMPOTENCE is True
    assert settings.database_url.endswith(f"@postgres:5432/{name}")
    assert settings.ZORG_RUN_WORKERS is (role != "api")


def test_migrate_runs_once_before_everything_else(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    migrate = services["migrate"]
    assert migrate["command"] == ["zorg", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["build"]["args"]["SERVICE"] == "all", "the migrate image needs every service"
    for key, value in migrate["environment"].items():
        monkeypatch.setenv(key, interpolate(str(value), OPERATOR_ENV))
    for name, settings_cls in SETTINGS.items():
        assert settings_cls(_env_file=None).database_url.endswith(f"/{name}")  # type: ignore[call-arg]
    for container, _, _ in platform_containers():
        depends = services[container]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", container
        assert depends["kafka"]["condition"] == "service_healthy", container


def test_postgres_has_a_database_per_service(services: dict[str, dict[str, Any]]) -> None:
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:15")
    assert "healthcheck" in postgres
    assert "./deploy/postgres/init.sql:/docker-entrypoint-initdb.d/init.sql:ro" in postgres["volumes"]
    created = re.findall(r"CREATE DATABASE (\w+)", INIT_SQL.read_text(), flags=re.IGNORECASE)
    assert sorted(created) == sorted(SETTINGS)


def test_kafka_runs_in_kraft_mode_for_the_other_containers(services: dict[str, dict[str, Any]]) -> None:
    kafka = services["kafka"]
    env = kafka["environment"]
    assert interpolate(kafka["image"], {}).startswith("apache/kafka:")
    assert set(env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert "ZOOKEEPER_CONNECT" not in " ".join(env)
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert int(env["KAFKA_NUM_PARTITIONS"]) == ServiceSettings.model_fields["KAFKA_TOPIC_PARTITIONS"].default
    assert "healthcheck" in kafka
    assert "ports" not in kafka, "the broker is for the platform's containers only"


def test_the_published_ports_are_the_services_own(services: dict[str, dict[str, Any]]) -> None:
    published: dict[str, list[int]] = {}
    for container, spec in services.items():
        for port in spec.get("ports", []):
            host, _, target = str(port).rpartition(":")
            assert host == target, f"{container}: {port}"
            published.setdefault(container, []).append(int(target))
    assert published == PORTS
