"""The Kubernetes manifests (deploy/k8s): every overlay rendered and validated without a cluster.

`kubectl kustomize` renders each overlay (kubectl ships kustomize; no cluster is contacted), every
built-in object is checked against the Kubernetes schemas that `kubernetes-validate` carries, and
every KEDA, Strimzi and CloudNativePG object against its CRD's schema kept in deploy/k8s/schemas.
Then what the code says (consumer groups, topics, settings) is checked against what the manifests say.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in requirements-dev.txt
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from tests.support import pem_pair
from zorg_common.cli import services as service_specs
from zorg_common.events import DLQ_SUFFIX, TOPICS
from zorg_common.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
SCHEMAS = K8S / "schemas"
OVERLAYS = ("dev", "production")
KUBERNETES_VERSION = "1.32.0"
PRIVATE_TOPIC = "zorg.providers.private"
PROBE_PORT = 9000
UNITS = ("api", "worker", "relay")
Object = dict[str, Any]


def kubectl() -> str:
    found = shutil.which("kubectl")
    if found is None:
        pytest.fail("kubectl (which carries kustomize) is needed to render deploy/k8s: see deploy/README.md")
    return found


@cache
def rendered(overlay: str) -> tuple[Object, ...]:
    result = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


def of_kind(overlay: str, kind: str) -> dict[str, Object]:
    return {o["metadata"]["name"]: o for o in rendered(overlay) if o["kind"] == kind}


def closed(schema: Any) -> Any:
    """A CRD schema as the API server's strict field validation reads it: unknown fields are errors."""
    if isinstance(schema, dict):
        schema = {k: closed(v) for k, v in schema.items()}
        if (
            "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
    elif isinstance(schema, list):
        schema = [closed(v) for v in schema]
    return schema


@cache
def crd_schema(api_version: str, kind: str) -> Any:
    group, version = api_version.split("/")
    path = SCHEMAS / f"{group}_{kind.lower()}s_{version}.json"
    if not path.exists():
        return None
    return closed(json.loads(path.read_text()))


def containers(workload: Object) -> Iterator[Object]:
    spec = workload["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


def env_of(container: Object) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def consumer_groups() -> dict[str, dict[str, tuple[str, ...]]]:
    """service -> {group: topics}, as the code declares them (KAFKA_TOPIC_PREFIX empty, as in production)."""
    return {name: {c.group: tuple(c.topics) for c in spec.consumers} for name, spec in sorted(service_specs().items())}


def test_the_committed_manifests_are_what_the_generator_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(K8S / "generate.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_validates_against_its_schema(overlay: str) -> None:
    problems = []
    for obj in rendered(overlay):
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        schema = crd_schema(obj["apiVersion"], obj["kind"]) if "." in obj["apiVersion"].split("/")[0] else None
        if schema is not None:
            errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(obj), key=lambda e: list(e.absolute_path))
            problems += [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}" for e in errors]
            continue
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(f"{where}: {obj['apiVersion']} has neither a Kubernetes schema nor a CRD schema")
        except kubernetes_validate.ValidationError as e:
            problems.append(f"{where}: {e.message} at {'/'.join(map(str, e.absolute_path))}")
    assert not problems, "\n".join(problems)


def test_the_checks_catch_a_misspelt_field() -> None:
    """The schemas are closed as the API server's strict validation closes them: a typo is an error."""
    scaled = dict(next(iter(of_kind("production", "ScaledObject").values())))
    scaled["spec"] = {**scaled["spec"], "maxReplicaCuont": 3}
    schema = crd_schema(scaled["apiVersion"], scaled["kind"])
    assert schema is not None
    assert list(jsonschema.Draft7Validator(schema).iter_errors(scaled))
    deployment = dict(next(iter(of_kind("production", "Deployment").values())))
    deployment["spec"] = {**deployment["spec"], "replica": 2}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_service_runs_an_api_a_worker_a_relay_and_a_migrate_job(overlay: str) -> None:
    deployments, jobs = of_kind(overlay, "Deployment"), of_kind(overlay, "Job")
    platform = next(c for n, c in of_kind(overlay, "ConfigMap").items() if n.startswith("zorg-platform"))["data"]
    assert platform["ZORG_PROBE_PORT"] == str(PROBE_PORT)
    for name in service_specs():
        for unit in UNITS:
            workload = deployments[f"zorg-{name}-{unit}"]
            (main,) = workload["spec"]["template"]["spec"]["containers"]
            expected = ["zorg", "serve", name, "--host", "0.0.0.0"] if unit == "api" else ["zorg", unit, name]
            assert main["args"] == expected
            (init,) = workload["spec"]["template"]["spec"]["initContainers"]
            assert init["command"][-1] == f"until zorg migrate {name} --check; do sleep 5; done"
            port = service_specs()[name].port if unit == "api" else PROBE_PORT
            ports = {p["name"]: p["containerPort"] for p in main["ports"]}
            assert ports["http" if unit == "api" else "probe"] == port
            assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
            assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
            if unit == "api":
                assert env_of(main)["ZORG_RUN_WORKERS"] == "false"
        job = jobs[f"zorg-{name}-migrate"]
        assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["zorg", "migrate", name]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_is_non_root_bounded_and_traced(overlay: str) -> None:
    workloads = {**of_kind(overlay, "Deployment"), **of_kind(overlay, "Job")}
    ours = {n: w for n, w in workloads.items() if n.startswith("zorg-")}
    assert len(ours) == 4 * len(service_specs())
    for name, workload in ours.items():
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["automountServiceAccountToken"] is False, name
        for c in containers(workload):
            assert c["resources"]["requests"]["cpu"] and c["resources"]["limits"]["memory"], name
            assert c["securityContext"]["readOnlyRootFilesystem"] is True, name
            assert c["securityContext"]["capabilities"]["drop"] == ["ALL"], name
            env = env_of(c)
            assert env["OTEL_SERVICE_NAME"] == f"zorg-{workload['metadata']['labels']['app.kubernetes.io/name']}"
    platform = next(c for n, c in of_kind(overlay, "ConfigMap").items() if n.startswith("zorg-platform"))["data"]
    assert platform["OTEL_EXPORTER_OTLP_ENDPOINT"].startswith("http")


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_apis_have_a_service_a_disruption_budget_and_scale_on_cpu(overlay: str) -> None:
    services, budgets, scalers = (
        of_kind(overlay, "Service"),
        of_kind(overlay, "PodDisruptionBudget"),
        of_kind(overlay, "HorizontalPodAutoscaler"),
    )
    for name, spec in service_specs().items():
        assert services[f"zorg-{name}"]["spec"]["ports"][0]["port"] == spec.port
        assert budgets[f"zorg-{name}-api"]["spec"]["minAvailable"] == 1
        hpa = scalers[f"zorg-{name}-api"]["spec"]
        assert hpa["scaleTargetRef"]["name"] == f"zorg-{name}-api"
        assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_workers_scale_on_the_lag_of_the_groups_the_code_consumes(overlay: str) -> None:
    scaled, deployments = of_kind(overlay, "ScaledObject"), of_kind(overlay, "Deployment")
    for name, groups in consumer_groups().items():
        worker = f"zorg-{name}-worker"
        if not groups:
            assert worker not in scaled, f"{name} consumes nothing: nothing to scale on"
            continue
        spec = scaled[worker]["spec"]
        assert spec["scaleTargetRef"]["name"] == worker
        assert "replicas" not in deployments[worker]["spec"], "KEDA owns the worker's replica count"
        assert 1 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
        assert spec["maxReplicaCount"] <= ServiceSettings.model_fields["KAFKA_TOPIC_PARTITIONS"].default
        triggers = {t["metadata"]["consumerGroup"]: t["metadata"] for t in spec["triggers"] if t["type"] == "kafka"}
        assert set(groups) <= set(triggers), f"{name}: a consumer group without a lag trigger"
        for group, topics in groups.items():
            assert triggers[group].get("topic", topics[0]) in topics
            assert triggers[group]["allowIdleConsumers"] == "false"


def test_production_topics_have_the_partitions_and_three_replicas() -> None:
    topics = {t["spec"]["topicName"]: t["spec"] for t in of_kind("production", "KafkaTopic").values()}
    expected = {t for topic in (*TOPICS, PRIVATE_TOPIC) for t in (topic, topic + DLQ_SUFFIX)}
    assert set(topics) == expected
    partitions = ServiceSettings.model_fields["KAFKA_TOPIC_PARTITIONS"].default
    for name, spec in topics.items():
        assert (spec["partitions"], spec["replicas"]) == (partitions, 3), name
    (kafka,) = of_kind("production", "Kafka").values()
    assert kafka["spec"]["kafka"]["config"]["auto.create.topics.enable"] is False
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    assert {lis["authentication"]["type"] for lis in kafka["spec"]["kafka"]["listeners"]} == {"scram-sha-512"}


def acl_table() -> dict[str, set[tuple[str, str, str]]]:
    """service -> {(resource type, name, operation)} of its KafkaUser."""
    table: dict[str, set[tuple[str, str, str]]] = {}
    for user in of_kind("production", "KafkaUser").values():
        assert user["spec"]["authentication"]["type"] == "scram-sha-512"
        service = user["metadata"]["name"].removeprefix("zorg-")
        for acl in user["spec"]["authorization"]["acls"]:
            assert acl["resource"]["patternType"] == "literal", "a prefix would reach more than the named topic"
            for operation in acl["operations"]:
                table.setdefault(service, set()).add((acl["resource"]["type"], acl["resource"]["name"], operation))
    return table


def test_each_service_has_a_kafka_user_reaching_only_its_own_topics_and_groups() -> None:
    table = acl_table()
    assert set(table) == set(service_specs())
    for name, groups in consumer_groups().items():
        granted = table[name]
        for group, topics in groups.items():
            assert ("group", group, "Read") in granted, f"{name} cannot join {group}"
            for topic in topics:
                assert ("topic", topic, "Read") in granted, f"{name} cannot read {topic}"
                assert ("topic", topic + DLQ_SUFFIX, "Write") in granted, f"{name} cannot dead-letter {topic}"
        own_groups = {resource for kind, resource, _ in granted if kind == "group"}
        assert own_groups <= set(groups) | {g for g in own_groups if g.startswith(f"{name}.")}, name
        for kind, resource, operation in granted:
            if kind == "group":
                assert resource.startswith(f"{name}."), f"{name} may use another service's group {resource}"
            if operation == "Read" and kind == "topic":
                readers = {s for s, acl in table.items() if ("topic", resource, "Read") in acl}
                assert name in readers


def test_only_claims_reads_the_private_provider_topic_and_publication_never_sees_it() -> None:
    table = acl_table()
    readers = {s for s, granted in table.items() if ("topic", PRIVATE_TOPIC, "Read") in granted}
    assert readers == {"claims"}
    assert not [r for r in table["publication"] if ".private" in r[1]], "publication must not even describe it"
    assert ("topic", PRIVATE_TOPIC, "Write") in table["eligibility"]


def test_each_service_has_its_own_postgresql_cluster_database_and_owner() -> None:
    clusters = of_kind("production", "Cluster")
    deployments = of_kind("production", "Deployment")
    for name in service_specs():
        initdb = clusters[f"zorg-{name}-db"]["spec"]["bootstrap"]["initdb"]
        assert (initdb["database"], initdb["owner"]) == (name, name)
        for unit in UNITS:
            for c in containers(deployments[f"zorg-{name}-{unit}"]):
                url = env_of(c)[f"{name.upper()}_DATABASE_URL"]
                assert url == {"secretKeyRef": {"name": f"zorg-{name}-db-app", "key": "uri"}}


def reachable(overlay: str, service: str) -> list[dict[str, str]]:
    """The pod labels a service's pods may send to, over every NetworkPolicy that selects them."""
    found = []
    for policy in of_kind(overlay, "NetworkPolicy").values():
        selected = policy["spec"]["podSelector"].get("matchLabels", {})
        if selected.get("app.kubernetes.io/name") != service or "Egress" not in policy["spec"]["policyTypes"]:
            continue
        for rule in policy["spec"].get("egress", []):
            found += [peer["podSelector"]["matchLabels"] for peer in rule.get("to", []) if "podSelector" in peer]
    return found


def test_publication_reaches_its_own_database_and_no_other() -> None:
    peers = reachable("production", "publication")
    databases = [p["cnpg.io/cluster"] for p in peers if "cnpg.io/cluster" in p]
    assert databases == ["zorg-publication-db"]
    assert not [p for p in peers if p.get("app.kubernetes.io/name") in set(service_specs()) - {"publication"}]
    for name in service_specs():
        assert [p["cnpg.io/cluster"] for p in reachable("production", name) if "cnpg.io/cluster" in p] == [
            f"zorg-{name}-db"
        ]
        door = of_kind("production", "NetworkPolicy")[f"zorg-{name}-db"]["spec"]["ingress"][0]["from"][0]
        assert door["podSelector"]["matchLabels"]["app.kubernetes.io/name"] == name


def test_the_ingress_puts_the_apis_the_portal_and_the_public_page_under_one_host() -> None:
    (ingress,) = of_kind("production", "Ingress").values()
    (rule,) = ingress["spec"]["rules"]
    routes = {(p["path"], p["pathType"]): p["backend"]["service"]["name"] for p in rule["http"]["paths"]}
    assert routes[("/", "Exact")] == "zorg-publication", "the public page"
    assert routes[("/portal", "Prefix")] == "zorg-eligibility", "the provider portal"
    for name, spec in service_specs().items():
        for router in spec.routers:
            if router.prefix:
                assert routes.get((router.prefix, "Prefix")) == f"zorg-{name}", f"{router.prefix} is not routed"
    assert not {path for path, _ in routes} & {"/metrics", "/docs", "/openapi.json"}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_no_secret_value_is_in_the_repository(overlay: str) -> None:
    for secret in of_kind(overlay, "Secret").values():
        assert overlay == "dev", "production secrets come from the operators and from the people who run it"
        for value in (secret.get("stringData") or {}).values():
            assert not re.search(r"://[^/@]*:[^/@]*@", value), f"{secret['metadata']['name']} holds a password"
    for obj in rendered(overlay):
        if obj["kind"] == "ConfigMap":
            assert not [k for k in obj["data"] if re.search(r"SECRET|PASSWORD|PRIVATE_KEY", k)], obj["metadata"]
        if obj["kind"] in ("Deployment", "Job"):
            for c in containers(obj):
                for key, value in env_of(c).items():
                    if re.search(r"SECRET|PASSWORD|PRIVATE_KEY", key):
                        assert isinstance(value, dict), f"{obj['metadata']['name']}: {key} has a literal value"


def _secret_stand_ins(service: str) -> dict[str, str]:
    """A value for every setting the service's production API Deployment takes from a Secret."""
    private, public = pem_pair()
    pems = {"ZORG_JWT_PRIVATE_KEY": private, "ZORG_JWT_PUBLIC_KEY": public}
    api = of_kind("production", "Deployment")[f"zorg-{service}-api"]
    values: dict[str, str] = {}
    for c in containers(api):
        for key, value in env_of(c).items():
            if isinstance(value, str):
                values[key] = value
            elif "secretKeyRef" in value and not key.endswith("DATABASE_URL"):
                values[key] = pems.get(key, "a-stand-in-secret-of-forty-characters-xx")
        for source in c.get("envFrom", []):
            if source.get("secretRef", {}).get("name") == f"zorg-{service}-auth":
                values["ZORG_CLIENT_SECRET"] = "a-stand-in-client-secret"  # what deploy/README.md puts there
    return values


def test_production_accepts_its_own_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ZORG_ENV=production refuses weak settings at start: it must accept what the ConfigMaps give."""
    ca_file = tmp_path / "ca.crt"
    ca_file.write_text("-----BEGIN CERTIFICATE-----\n")
    configmaps = of_kind("production", "ConfigMap")
    platform = next(c for n, c in configmaps.items() if n.startswith("zorg-platform"))["data"]
    assert platform["ZORG_ENV"] == "production" and platform["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    assert platform["KAFKA_REPLICATION_FACTOR"] == "3" and platform["KAFKA_ENABLE_IDEMPOTENCE"] == "true"
    for name, spec in service_specs().items():
        own = next(c for n, c in configmaps.items() if re.fullmatch(rf"zorg-{name}-\w+", n))["data"]
        with monkeypatch.context() as m:
            for key in ["DATABASE_URL", *(k for k in os.environ if k.startswith(("ZORG_", "KAFKA_")))]:
                m.delenv(key, raising=False)
            for key, value in {**platform, **own}.items():
                m.setenv(key, value)
            m.setenv(f"{name.upper()}_DATABASE_URL", f"postgresql://{name}:pw@zorg-{name}-db-rw:5432/{name}")
            for key, value in _secret_stand_ins(name).items():  # what the Secrets would hold
                m.setenv(key, value)
            m.setenv("KAFKA_SSL_CAFILE", str(ca_file))  # mounted from Strimzi's cluster CA in the pod
            settings = spec.settings_cls(_env_file=None)  # type: ignore[call-arg]
        assert settings.ZORG_ENV == "production" and settings.KAFKA_TOPIC_PREFIX == ""
        assert settings.database_url.endswith(f"/{name}")


def test_production_images_are_pinned() -> None:
    for obj in of_kind("production", "Deployment").values():
        for c in containers(obj):
            assert re.search(r":[\w.-]+$|@sha256:[0-9a-f]{64}$", c["image"]) and not c["image"].endswith(":latest")


def test_the_schemas_record_where_they_came_from() -> None:
    readme = (SCHEMAS / "README.md").read_text()
    for path in SCHEMAS.glob("*.json"):
        assert path.name in readme, f"{path.name}: repository, path and commit belong in schemas/README.md"
    assert len(re.findall(r"\b[0-9a-f]{40}\b", readme)) >= 3
