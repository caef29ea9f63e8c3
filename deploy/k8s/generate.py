"""Writes the kustomize base and overlays under deploy/k8s, the Grafana dashboards and the alert rules (`make k8s`).

Four services share one shape (an API, a worker, a relay, a migrate job, and what goes with them), so
the YAML is written from the table below rather than kept by hand four times; `--check` exits 1 when
a committed file differs from what this script writes (tests/unit/test_k8s_manifests.py runs it).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
HEADER = "# Written by deploy/k8s/generate.py (`make k8s`): edit its table, not this file.\n"

PART_OF = "zorginkoop"
PROBE_PORT = 9000  # ZORG_PROBE_PORT: /healthz, /readyz and /metrics of `zorg worker` and `zorg relay`
PARTITIONS = 6  # KAFKA_TOPIC_PARTITIONS: the most worker replicas that do useful work in one group
KAFKA_CLUSTER = "zorg-kafka"
KAFKA_CA_SECRET = f"{KAFKA_CLUSTER}-cluster-ca-cert"  # made by Strimzi
#: The platform's own signing key pair for portal tokens (private.pem for eligibility, public.pem for all).
PORTAL_KEY_SECRET = "zorg-portal-signing"
KAFKA_CA_DIR = "/etc/zorg/kafka-ca"
INGRESS_HOST = "zorginkoop.example"
TOPICS = ("zorg.providers", "zorg.providers.private", "zorg.contracts", "zorg.claims")
DLQ = ".dlq"


@dataclass(frozen=True)
class Service:
    port: int
    routes: tuple[str, ...]  # the path prefixes the Ingress sends to this API
    produces: tuple[str, ...] = ()  # topics its relay writes
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)  # consumer group -> topics it reads
    ensures: tuple[str, ...] = ()  # ServiceSpec.topics: listed (Describe) at start
    worker_replicas: int | None = 1  # None: KEDA decides (a ScaledObject on the groups' lag)
    relay_replicas: int = 1
    lag_threshold: int = 1000  # messages behind per worker replica before KEDA adds one
    config: dict[str, str] = field(default_factory=dict)  # the service's own ConfigMap
    extra_ports: dict[str, int] = field(default_factory=dict)
    calls: tuple[str, ...] = ()  # other services' APIs it calls


SERVICES: dict[str, Service] = {
    "eligibility": Service(
        port=8001,
        routes=("/providers", "/policies", "/evaluations", "/portal"),
        produces=("zorg.providers", "zorg.providers.private"),
        ensures=("zorg.providers", "zorg.providers.private"),
        worker_replicas=0,  # consumes nothing today: raise it when eligibility has a consumer
        # A policy simulation asks claims for last year's amounts (in the cluster); the portal page in the
        # browser calls claims and contracting on its own origin, through the Ingress (their routes).
        config={"CLAIMS_URL": "http://zorg-claims:8003", "PORTAL_CLAIMS_BASE": "", "PORTAL_CONTRACTING_BASE": ""},
        calls=("claims",),
    ),
    "contracting": Service(
        port=8002,
        routes=(
            "/follow-formats",
            "/negotiations",
            "/invitations",
            "/contract-requests",
            "/contracts",
            "/procurements",
            "/overzicht",  # the year page of procurement staff
        ),
        produces=("zorg.contracts",),
        ensures=("zorg.providers", "zorg.contracts"),
        worker_replicas=1,  # intake retries, projections, the procurement gauges: no consumer group to scale on
        config={
            "ELIGIBILITY_URL": "http://zorg-eligibility:8001",
            "CLAIMS_URL": "http://zorg-claims:8003",  # volumes for offer projections, held claims for the year page
            "SMTP_HOST": "0.0.0.0",
            "SMTP_PORT": "2525",
        },
        extra_ports={"smtp": 2525},
        calls=("eligibility", "claims"),
    ),
    "claims": Service(
        port=8003,
        routes=("/claims", "/authorisations", "/access-log"),
        produces=("zorg.claims",),
        groups={
            "claims.adjudication": ("zorg.claims",),
            "claims.read-models": ("zorg.providers", "zorg.contracts", "zorg.providers.private"),
        },
        ensures=("zorg.providers", "zorg.contracts", "zorg.claims", "zorg.providers.private"),
        worker_replicas=None,
        lag_threshold=2000,  # a worker decides a few thousand claims a second at the month-end peak
    ),
    "publication": Service(
        port=8004,
        routes=("/listings",),
        groups={"publication.listing": ("zorg.providers", "zorg.contracts")},
        ensures=("zorg.providers", "zorg.contracts"),
        worker_replicas=None,
        relay_replicas=0,  # publication emits no events
    ),
}

RESOURCES = {
    "api": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
    "worker": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "768Mi"}},
    "relay": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
    "migrate": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
}
POOL = {"api": "10", "worker": "4", "relay": "4", "migrate": "2"}


def name(service: str, unit: str | None = None) -> str:
    return f"zorg-{service}" if unit is None else f"zorg-{service}-{unit}"


def labels(service: str, unit: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": service, "app.kubernetes.io/component": unit}


def meta(object_name: str, service: str | None = None, unit: str | None = None, **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"name": object_name}
    if service is not None and unit is not None:
        found["labels"] = labels(service, unit)
    found.update(extra)
    return found


# ---------------------------------------------------------------------------------------------- base


def container(service: str, unit: str, args: list[str]) -> dict[str, Any]:
    svc = SERVICES[service]
    env = [
        {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "OTEL_SERVICE_NAME", "value": name(service)},
        {
            "name": "OTEL_RESOURCE_ATTRIBUTES",
            "value": f"service.namespace={PART_OF},service.instance.id=$(POD_NAME),zorg.unit={unit}",
        },
        {"name": "DATABASE_POOL_SIZE", "value": POOL[unit]},
        {
            "name": f"{service.upper()}_DATABASE_URL",
            "valueFrom": {"secretKeyRef": {"name": f"{name(service)}-db-app", "key": "uri"}},
        },
    ]
    if unit == "api":
        env.insert(0, {"name": "ZORG_RUN_WORKERS", "value": "false"})
    found: dict[str, Any] = {
        "name": "zorg",
        "image": f"zorginkoop/{service}",
        "args": args,
        "envFrom": [
            {"configMapRef": {"name": "zorg-platform"}},
            {"configMapRef": {"name": name(service)}},
            {"secretRef": {"name": f"{name(service)}-auth"}},  # made by the operator: deploy/README.md
        ],
        "env": env,
        "resources": RESOURCES[unit],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    if unit == "api":
        ports = {"http": svc.port, **svc.extra_ports}
        found["ports"] = [{"name": port_name, "containerPort": port} for port_name, port in ports.items()]
        found["livenessProbe"] = probe("/healthz", "http", period=10, failures=3)
        found["readinessProbe"] = probe("/readyz", "http", period=5, failures=2)
        found["startupProbe"] = probe("/healthz", "http", period=2, failures=30)
    elif unit in ("worker", "relay"):
        found["ports"] = [{"name": "probe", "containerPort": PROBE_PORT}]
        found["livenessProbe"] = probe("/healthz", "probe", period=15, failures=4)
        found["readinessProbe"] = probe("/readyz", "probe", period=10, failures=3)
    return found


def probe(path: str, port: str, *, period: int, failures: int) -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": port}, "periodSeconds": period, "failureThreshold": failures}


def pod_spec(service: str, unit: str, containers: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "runAsGroup": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        **extra,
        "containers": containers,
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
    }
    return spec


def wait_for_migrations(service: str) -> dict[str, Any]:
    """The release's migrate job runs first: until it has, `zorg migrate --check` fails and the pod waits."""
    waiting = container(service, "migrate", [])
    for key in ("args", "ports"):
        waiting.pop(key, None)
    waiting["name"] = "wait-for-migrations"
    waiting["command"] = ["sh", "-c", f"until zorg migrate {service} --check; do sleep 5; done"]
    return waiting


def scrape_annotations(port: int | str) -> dict[str, str]:
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(port), "prometheus.io/path": "/metrics"}


def deployment(service: str, unit: str, replicas: int | None) -> dict[str, Any]:
    svc = SERVICES[service]
    args = ["zorg", "serve", service, "--host", "0.0.0.0"] if unit == "api" else ["zorg", unit, service]
    spread = [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": labels(service, unit)},
        }
    ]
    spec: dict[str, Any] = {
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": labels(service, unit)},
        "template": {
            "metadata": {
                "labels": labels(service, unit),
                "annotations": scrape_annotations(svc.port if unit == "api" else PROBE_PORT),
            },
            "spec": pod_spec(
                service,
                unit,
                [container(service, unit, args)],
                initContainers=[wait_for_migrations(service)],
                topologySpreadConstraints=spread,
                # A worker finishes the batch in hand on SIGTERM before it leaves its group.
                terminationGracePeriodSeconds=30 if unit == "api" else 60,
            ),
        },
    }
    if replicas is not None:  # left out when KEDA owns the count
        spec = {"replicas": replicas, **spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(name(service, unit), service, unit),
        "spec": spec,
    }


def migrate_job(service: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(name(service, "migrate"), service, "migrate"),
        "spec": {
            "backoffLimit": 6,
            "ttlSecondsAfterFinished": 86400,
            "template": {
                "metadata": {"labels": labels(service, "migrate")},
                "spec": pod_spec(
                    service,
                    "migrate",
                    [container(service, "migrate", ["zorg", "migrate", service])],
                    restartPolicy="OnFailure",
                ),
            },
        },
    }


def api_service(service: str) -> dict[str, Any]:
    svc = SERVICES[service]
    ports = {"http": svc.port, **svc.extra_ports}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(name(service), service, "api"),
        "spec": {
            "selector": labels(service, "api"),
            "ports": [{"name": n, "port": p, "targetPort": n} for n, p in ports.items()],
        },
    }


def disruption_budget(service: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(name(service, "api"), service, "api"),
        "spec": {"minAvailable": 1, "selector": {"matchLabels": labels(service, "api")}},
    }


def autoscaler(service: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(name(service, "api"), service, "api"),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name(service, "api")},
            "minReplicas": 2,
            "maxReplicas": 10,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}},
                }
            ],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def lag_triggers(service: str, bootstrap: str, *, secure: bool = False) -> list[dict[str, Any]]:
    """A KEDA kafka trigger per consumer group; ``secure``: SASL_SSL with the service's own Kafka user."""
    svc = SERVICES[service]
    triggers = []
    for group, topics in svc.groups.items():
        metadata = {
            "bootstrapServers": bootstrap,
            "consumerGroup": group,
            "lagThreshold": str(svc.lag_threshold),
            "offsetResetPolicy": "earliest",
            "allowIdleConsumers": "false",  # never more replicas than partitions
        }
        if len(topics) == 1:
            metadata["topic"] = topics[0]
        trigger: dict[str, Any] = {"type": "kafka", "name": group.replace(".", "-"), "metadata": metadata}
        if secure:
            metadata.update({"sasl": "scram_sha512", "tls": "enable"})
            trigger["authenticationRef"] = {"name": f"{name(service)}-kafka"}
        triggers.append(trigger)
    return triggers


def scaled_object(service: str, bootstrap: str) -> dict[str, Any]:
    """KEDA scales the worker on its groups' lag, between one replica and the topics' partition count."""
    triggers = lag_triggers(service, bootstrap)
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": meta(name(service, "worker"), service, "worker"),
        "spec": {
            "scaleTargetRef": {"name": name(service, "worker")},
            "minReplicaCount": 1,  # the read models stay current in quiet hours
            "maxReplicaCount": PARTITIONS,
            "pollingInterval": 15,
            "cooldownPeriod": 300,
            "advanced": {
                "horizontalPodAutoscalerConfig": {
                    # Quiet hours: one replica less per minute, after ten quiet minutes.
                    "behavior": {
                        "scaleDown": {
                            "stabilizationWindowSeconds": 600,
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}],
                        }
                    }
                }
            },
            "triggers": triggers,
        },
    }


def network_policy(service: str) -> dict[str, Any]:
    """Who may reach the service's pods, and what they may reach; the engines are the overlays' (engines.yaml)."""
    svc = SERVICES[service]
    api_ports = [{"port": p} for p in (svc.port, *svc.extra_ports.values())]
    ingress: list[dict[str, Any]] = [
        {  # the ingress controller, to the API
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}],
            "ports": api_ports,
        },
        {  # Prometheus scrapes the APIs and the probe port of workers and relays
            "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}],
            "ports": [{"port": svc.port}, {"port": PROBE_PORT}],
        },
    ]
    callers = [other for other, spec in SERVICES.items() if service in spec.calls]
    if callers:
        ingress.append(
            {
                "from": [
                    {
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/name": c, "app.kubernetes.io/part-of": PART_OF}
                        }
                    }
                    for c in callers
                ],
                "ports": [{"port": svc.port}],
            }
        )
    if svc.extra_ports:  # mail from outside the cluster (the SMTP door guards itself: size, sender)
        ingress.append({"ports": [{"port": p} for p in svc.extra_ports.values()]})
    egress: list[dict[str, Any]] = [
        {  # DNS
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
            "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
        },
        {  # traces to the OpenTelemetry collector (OTLP/HTTP)
            "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "observability"}}}],
            "ports": [{"port": 4318}],
        },
        {  # the identity provider (JWKS, client-credential tokens), outside the cluster
            "to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]}}],
            "ports": [{"port": 443}],
        },
    ]
    for callee in svc.calls:
        egress.append(
            {
                "to": [
                    {
                        "podSelector": {
                            "matchLabels": {"app.kubernetes.io/name": callee, "app.kubernetes.io/component": "api"}
                        }
                    }
                ],
                "ports": [{"port": SERVICES[callee].port}],
            }
        )
    if "smtp" in svc.extra_ports:  # replies go out through the mail relay (REPLY_SMTP_HOST)
        egress.append({"ports": [{"port": 25}, {"port": 587}]})
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name(service)},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": service}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def service_objects(service: str, bootstrap: str) -> list[dict[str, Any]]:
    svc = SERVICES[service]
    found = [
        migrate_job(service),
        deployment(service, "api", 2),
        api_service(service),
        disruption_budget(service),
        autoscaler(service),
        deployment(service, "worker", svc.worker_replicas),
        deployment(service, "relay", svc.relay_replicas),
        network_policy(service),
    ]
    if svc.worker_replicas is None:
        found.append(scaled_object(service, bootstrap))
    return found


def ingress() -> dict[str, Any]:
    paths = [
        {
            "path": route,
            "pathType": "Prefix",
            "backend": {"service": {"name": name(service), "port": {"name": "http"}}},
        }
        for service, svc in SERVICES.items()
        for route in svc.routes
    ]
    # The public page is `/` alone: a prefix would publish /metrics, /docs and /openapi.json too.
    paths.append(
        {
            "path": "/",
            "pathType": "Exact",
            "backend": {"service": {"name": name("publication"), "port": {"name": "http"}}},
        }
    )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "zorginkoop", "annotations": {"nginx.ingress.kubernetes.io/proxy-body-size": "26m"}},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": [INGRESS_HOST], "secretName": "zorginkoop-tls"}],
            "rules": [{"host": INGRESS_HOST, "http": {"paths": paths}}],
        },
    }


PLATFORM_CONFIG = {
    "ZORG_ENV": "production",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "INFO",
    "ZORG_PROBE_PORT": str(PROBE_PORT),
    "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
    "KAFKA_ENABLE_IDEMPOTENCE": "true",
    "KAFKA_TOPIC_PARTITIONS": str(PARTITIONS),
    "KAFKA_REPLICATION_FACTOR": "3",
    "KAFKA_TOPIC_PREFIX": "",
    # The services export OTLP over HTTP (opentelemetry-exporter-otlp-proto-http): the collector's 4318.
    "OTEL_EXPORTER_OTLP_ENDPOINT": "http://otel-collector.observability:4318",
    "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
    "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
    "OTEL_TRACES_SAMPLER_ARG": "0.1",
    "OTEL_PROPAGATORS": "tracecontext,baggage",
}


def base_kustomization() -> dict[str, Any]:
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "labels": [
            {"pairs": {"app.kubernetes.io/part-of": PART_OF}, "includeSelectors": False, "includeTemplates": True}
        ],
        "resources": ["ingress.yaml", *(f"{s}.yaml" for s in SERVICES)],
        "configMapGenerator": [
            {"name": "zorg-platform", "literals": [f"{k}={v}" for k, v in PLATFORM_CONFIG.items()]},
            *(
                {
                    "name": name(s),
                    "literals": [f"{k}={v}" for k, v in {"ZORG_CLIENT_ID": name(s), **svc.config}.items()],
                }
                for s, svc in SERVICES.items()
            ),
        ],
    }


# ------------------------------------------------------------------------------------------ overlays


def acls(service: str) -> list[dict[str, Any]]:
    """Only its own topics and groups: write what it emits, read what it consumes, dead-letter what it reads."""
    svc = SERVICES[service]
    wanted: dict[tuple[str, str], set[str]] = {}

    def allow(kind: str, resource: str, *operations: str) -> None:
        wanted.setdefault((kind, resource), set()).update(operations)

    for topic in svc.ensures:  # listed at start, with their DLQs
        allow("topic", topic, "Describe")
        allow("topic", topic + DLQ, "Describe")
    for topic in svc.produces:
        allow("topic", topic, "Describe", "Write")
    for group, topics in svc.groups.items():
        allow("group", group, "Read")
        for topic in topics:
            allow("topic", topic, "Describe", "Read")
            allow("topic", topic + DLQ, "Describe", "Write")
    return [
        {
            "resource": {"type": kind, "name": resource, "patternType": "literal"},
            "operations": sorted(operations),
        }
        for (kind, resource), operations in sorted(wanted.items())
    ]


def strimzi() -> list[dict[str, Any]]:
    cluster_label = {"strimzi.io/cluster": KAFKA_CLUSTER}
    objects: list[dict[str, Any]] = [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaNodePool",
            "metadata": {"name": "brokers", "labels": cluster_label},
            "spec": {
                "replicas": 3,
                "roles": ["controller", "broker"],
                "storage": {
                    "type": "jbod",
                    "volumes": [
                        {
                            "id": 0,
                            "type": "persistent-claim",
                            "size": "100Gi",
                            "deleteClaim": False,
                            "kraftMetadata": "shared",
                        }
                    ],
                },
                "resources": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"memory": "4Gi"}},
            },
        },
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "Kafka",
            "metadata": {"name": KAFKA_CLUSTER},
            "spec": {
                "kafka": {
                    "listeners": [
                        {
                            "name": "tls",
                            "port": 9093,
                            "type": "internal",
                            "tls": True,
                            "authentication": {"type": "scram-sha-512"},
                            "networkPolicyPeers": [
                                {"podSelector": {"matchLabels": {"app.kubernetes.io/part-of": PART_OF}}},
                                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "keda"}}},
                            ],
                        }
                    ],
                    "authorization": {"type": "simple"},
                    "config": {
                        "auto.create.topics.enable": False,  # topics are KafkaTopic objects, nothing else
                        "num.partitions": PARTITIONS,
                        "default.replication.factor": 3,
                        "min.insync.replicas": 2,
                        "offsets.topic.replication.factor": 3,
                        "transaction.state.log.replication.factor": 3,
                        "transaction.state.log.min.isr": 2,
                    },
                },
                "entityOperator": {"topicOperator": {}, "userOperator": {}},
            },
        },
    ]
    for topic in TOPICS:
        for full in (topic, topic + DLQ):
            objects.append(
                {
                    "apiVersion": "kafka.strimzi.io/v1",
                    "kind": "KafkaTopic",
                    "metadata": {"name": full.replace(".", "-"), "labels": cluster_label},
                    "spec": {
                        "topicName": full,
                        "partitions": PARTITIONS,
                        "replicas": 3,
                        "config": {"min.insync.replicas": 2, "retention.ms": 30 * 24 * 3600 * 1000},
                    },
                }
            )
    for service in SERVICES:
        objects.append(
            {
                "apiVersion": "kafka.strimzi.io/v1",
                "kind": "KafkaUser",
                "metadata": {"name": name(service), "labels": cluster_label},
                "spec": {
                    "authentication": {"type": "scram-sha-512"},
                    "authorization": {"type": "simple", "acls": acls(service)},
                },
            }
        )
    return objects


def cloudnative_pg() -> list[dict[str, Any]]:
    """A PostgreSQL cluster per service (CloudNativePG advises one database per cluster): its database and owner."""
    objects: list[dict[str, Any]] = []
    for service in SERVICES:
        db = f"{name(service)}-db"
        objects.append(
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "Cluster",
                "metadata": {"name": db, "labels": {"app.kubernetes.io/name": f"{service}-db"}},
                "spec": {
                    "instances": 3,
                    "primaryUpdateStrategy": "unsupervised",
                    # The secret <cluster>-app (made by the operator) holds the owner's password and `uri`.
                    "bootstrap": {"initdb": {"database": service, "owner": service}},
                    "postgresql": {"parameters": {"max_connections": "300"}},
                    "storage": {"size": "20Gi"},
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}},
                    "affinity": {"enablePodAntiAffinity": True, "topologyKey": "kubernetes.io/hostname"},
                },
            }
        )
        objects.append(
            {  # the database's own door: its service, its replicas and the operator, nobody else
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": db},
                "spec": {
                    "podSelector": {"matchLabels": {"cnpg.io/cluster": db}},
                    "policyTypes": ["Ingress"],
                    "ingress": [
                        {
                            "from": [
                                {
                                    "podSelector": {
                                        "matchLabels": {
                                            "app.kubernetes.io/name": service,
                                            "app.kubernetes.io/part-of": PART_OF,
                                        }
                                    }
                                },
                                {"podSelector": {"matchLabels": {"cnpg.io/cluster": db}}},
                            ],
                            "ports": [{"port": 5432}],
                        },
                        {
                            "from": [
                                {"podSelector": {"matchLabels": {"cnpg.io/cluster": db}}},
                                {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "cnpg-system"}}},
                            ],
                            "ports": [{"port": 8000}],
                        },
                    ],
                },
            }
        )
    return objects


def engine_egress(
    service: str, database: dict[str, str], kafka: dict[str, str], ports: tuple[int, int]
) -> dict[str, Any]:
    """The service reaches its own database and the brokers: no other database, whatever its credentials."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"{name(service)}-engines"},
        "spec": {
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": service}},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [{"podSelector": {"matchLabels": database}}], "ports": [{"port": ports[0]}]},
                {"to": [{"podSelector": {"matchLabels": kafka}}], "ports": [{"port": ports[1]}]},
            ],
        },
    }


def portal_key(key: str) -> dict[str, str]:
    return {"name": PORTAL_KEY_SECRET, "key": key}


def production_credentials(service: str) -> list[dict[str, Any]]:
    """Strategic-merge patches: SCRAM credentials and the cluster CA for every container of the service."""
    env = [
        {"name": "KAFKA_SASL_USERNAME", "value": name(service)},
        {"name": "KAFKA_SASL_PASSWORD", "valueFrom": {"secretKeyRef": {"name": name(service), "key": "password"}}},
        # Portal tokens are signed by the platform's own key (eligibility) and checked by every service.
        {"name": "ZORG_JWT_PUBLIC_KEY", "valueFrom": {"secretKeyRef": portal_key("public.pem")}},
    ]
    if service == "eligibility":
        env.append({"name": "ZORG_JWT_PRIVATE_KEY", "valueFrom": {"secretKeyRef": portal_key("private.pem")}})
    mounts = [{"name": "kafka-ca", "mountPath": KAFKA_CA_DIR, "readOnly": True}]
    volumes = [
        {"name": "kafka-ca", "secret": {"secretName": KAFKA_CA_SECRET, "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    ]
    patches = []
    for unit in ("migrate", "api", "worker", "relay"):
        kind, api = ("Job", "batch/v1") if unit == "migrate" else ("Deployment", "apps/v1")
        spec: dict[str, Any] = {
            "containers": [{"name": "zorg", "env": env, "volumeMounts": mounts}],
            "volumes": volumes,
        }
        if unit != "migrate":
            spec["initContainers"] = [{"name": "wait-for-migrations", "env": env, "volumeMounts": mounts}]
        patches.append(
            {
                "apiVersion": api,
                "kind": kind,
                "metadata": {"name": name(service, unit)},
                "spec": {"template": {"spec": spec}},
            }
        )
    return patches


def trigger_authentication(service: str) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": f"{name(service)}-kafka"},
        "spec": {
            "env": [{"parameter": "username", "name": "KAFKA_SASL_USERNAME", "containerName": "zorg"}],
            "secretTargetRef": [
                {"parameter": "password", "name": name(service), "key": "password"},
                {"parameter": "ca", "name": KAFKA_CA_SECRET, "key": "ca.crt"},
            ],
        },
    }


PRODUCTION_BOOTSTRAP = f"{KAFKA_CLUSTER}-kafka-bootstrap:9093"


def scaled_object_auth(service: str) -> dict[str, Any]:
    """The whole trigger list (a custom resource's lists are replaced by a patch, not merged)."""
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name(service, "worker")},
        "spec": {"triggers": lag_triggers(service, PRODUCTION_BOOTSTRAP, secure=True)},
    }


def production() -> dict[str, list[dict[str, Any]] | dict[str, Any]]:
    scaled = [s for s, svc in SERVICES.items() if svc.worker_replicas is None]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "zorginkoop",
        "resources": ["../../base", "kafka.yaml", "postgres.yaml", "engines.yaml", "keda-auth.yaml", "smtp.yaml"],
        "configMapGenerator": [
            {
                "name": "zorg-platform",
                "behavior": "merge",
                "literals": [
                    f"KAFKA_BOOTSTRAP_SERVERS={PRODUCTION_BOOTSTRAP}",
                    "KAFKA_SECURITY_PROTOCOL=SASL_SSL",
                    "KAFKA_SASL_MECHANISM=SCRAM-SHA-512",
                    f"KAFKA_SSL_CAFILE={KAFKA_CA_DIR}/ca.crt",
                    # The identity provider: RS256 tokens checked against its keys; calls between
                    # services use client credentials (ZORG_CLIENT_SECRET in zorg-<service>-auth).
                    "ZORG_JWT_ALGORITHM=RS256",
                    "ZORG_JWT_JWKS_URL=https://login.zorginkoop.example/realms/zorg/protocol/openid-connect/certs",
                    "ZORG_OAUTH_TOKEN_URL=https://login.zorginkoop.example/realms/zorg/protocol/openid-connect/token",
                ],
            },
            {
                "name": name("contracting"),
                "behavior": "merge",
                "literals": [
                    "OWN_UZOVI=3311",
                    "MAIL_AUTHSERV_ID=mx.zorginkoop.example",
                    "REPLY_SMTP_HOST=smtp-relay.mail.svc",
                ],
            },
        ],
        "images": [
            {"name": f"zorginkoop/{s}", "newName": f"registry.zorginkoop.example/zorginkoop/{s}", "newTag": "0.1.0"}
            for s in SERVICES
        ],
        "patches": [{"path": "credentials.yaml"}, {"path": "keda-triggers.yaml"}],
    }
    return {
        "kustomization.yaml": kustomization,
        "kafka.yaml": strimzi(),
        "postgres.yaml": cloudnative_pg(),
        "engines.yaml": [
            engine_egress(
                s,
                {"cnpg.io/cluster": f"{name(s)}-db"},
                {"strimzi.io/cluster": KAFKA_CLUSTER, "strimzi.io/kind": "Kafka"},
                (5432, 9093),
            )
            for s in SERVICES
        ],
        "keda-auth.yaml": [trigger_authentication(s) for s in scaled],
        "keda-triggers.yaml": [scaled_object_auth(s) for s in scaled],
        "credentials.yaml": [p for s in SERVICES for p in production_credentials(s)],
        "smtp.yaml": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta(f"{name('contracting')}-smtp", "contracting", "api"),
                "spec": {
                    "type": "LoadBalancer",
                    "externalTrafficPolicy": "Local",  # keeps the sender's address for the mail checks
                    "selector": labels("contracting", "api"),
                    "ports": [{"name": "smtp", "port": 25, "targetPort": "smtp"}],
                },
            }
        ],
    }


def dev() -> dict[str, list[dict[str, Any]] | dict[str, Any]]:
    """One machine's worth: a PostgreSQL and a single Kafka node in the namespace, one replica of everything."""
    init_sql = "".join(f"CREATE DATABASE {s};\n" for s in SERVICES)
    postgres = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "postgres", "labels": {"app.kubernetes.io/name": "postgres"}},
            "spec": {"selector": {"app.kubernetes.io/name": "postgres"}, "ports": [{"name": "postgres", "port": 5432}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "postgres", "labels": {"app.kubernetes.io/name": "postgres"}},
            "spec": {
                "serviceName": "postgres",
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "postgres"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "postgres"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "postgres",
                                "image": "postgres:15",
                                "args": ["-c", "max_connections=300"],
                                "env": [
                                    {"name": "POSTGRES_USER", "value": "zorg"},
                                    {"name": "POSTGRES_DB", "value": "zorg"},
                                    # Development only: the namespace's network policies are its door.
                                    {"name": "POSTGRES_HOST_AUTH_METHOD", "value": "trust"},
                                    {"name": "PGDATA", "value": "/var/lib/postgresql/data/pgdata"},
                                ],
                                "ports": [{"name": "postgres", "containerPort": 5432}],
                                "readinessProbe": {
                                    "exec": {"command": ["pg_isready", "-h", "127.0.0.1", "-U", "zorg"]}
                                },
                                "volumeMounts": [
                                    {"name": "data", "mountPath": "/var/lib/postgresql/data"},
                                    {"name": "init", "mountPath": "/docker-entrypoint-initdb.d", "readOnly": True},
                                ],
                            }
                        ],
                        "volumes": [{"name": "init", "configMap": {"name": "postgres-init"}}],
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
                    }
                ],
            },
        },
    ]
    kafka_env = {
        "CLUSTER_ID": "f33qRRq-SO-dbz8XPq_y0Q",
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": "PLAINTEXT://kafka:9092",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_LOG_DIRS": "/var/lib/kafka/data",
        "KAFKA_NUM_PARTITIONS": str(PARTITIONS),
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
    }
    kafka = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "kafka", "labels": {"app.kubernetes.io/name": "kafka"}},
            "spec": {"selector": {"app.kubernetes.io/name": "kafka"}, "ports": [{"name": "kafka", "port": 9092}]},
        },
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "kafka", "labels": {"app.kubernetes.io/name": "kafka"}},
            "spec": {
                "serviceName": "kafka",
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": "kafka"}},
                "template": {
                    "metadata": {"labels": {"app.kubernetes.io/name": "kafka"}},
                    "spec": {
                        "containers": [
                            {
                                "name": "kafka",
                                "image": "apache/kafka:3.9.1",
                                "env": [{"name": k, "value": v} for k, v in kafka_env.items()],
                                "ports": [{"name": "kafka", "containerPort": 9092}],
                                "readinessProbe": {"tcpSocket": {"port": 9092}},
                                "volumeMounts": [{"name": "data", "mountPath": "/var/lib/kafka/data"}],
                            }
                        ]
                    },
                },
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}},
                    }
                ],
            },
        },
    ]
    engines = postgres + kafka
    engines += [
        engine_egress(s, {"app.kubernetes.io/name": "postgres"}, {"app.kubernetes.io/name": "kafka"}, (5432, 9092))
        for s in SERVICES
    ]
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "namespace": "zorginkoop-dev",
        "resources": ["../../base", "engines.yaml"],
        "configMapGenerator": [
            {
                "name": "zorg-platform",
                "behavior": "merge",
                "literals": ["KAFKA_REPLICATION_FACTOR=1", "OTEL_TRACES_SAMPLER_ARG=1.0", "LOG_LEVEL=DEBUG"],
            },
            {"name": "postgres-init", "literals": [f"init.sql={init_sql}"]},
        ],
        # No password in these: the development PostgreSQL trusts the namespace (see engines.yaml).
        "secretGenerator": [
            {
                "name": f"{name(s)}-db-app",
                "literals": [f"uri=postgresql://zorg@postgres:5432/{s}"],
                "options": {"disableNameSuffixHash": True},
            }
            for s in SERVICES
        ],
        "images": [{"name": f"zorginkoop/{s}", "newTag": "dev"} for s in SERVICES],
        "patches": [
            {
                "target": {"kind": "Deployment", "labelSelector": "app.kubernetes.io/component=api"},
                "patch": yaml.safe_dump([{"op": "replace", "path": "/spec/replicas", "value": 1}]),
            },
            {
                "target": {"kind": "HorizontalPodAutoscaler"},
                "patch": yaml.safe_dump(
                    [
                        {"op": "replace", "path": "/spec/minReplicas", "value": 1},
                        {"op": "replace", "path": "/spec/maxReplicas", "value": 2},
                    ]
                ),
            },
            {
                "target": {"kind": "ScaledObject"},
                "patch": yaml.safe_dump([{"op": "replace", "path": "/spec/maxReplicaCount", "value": 2}]),
            },
        ],
    }
    return {"kustomization.yaml": kustomization, "engines.yaml": engines}


# ------------------------------------------------------------------------------- dashboards and alerts


def panel(title: str, targets: list[tuple[str, str]], slot: int, unit: str = "short") -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (slot % 2), "y": 8 * (slot // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + n), "expr": expr, "legendFormat": legend}
            for n, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard(service: str) -> dict[str, Any]:
    """Requests, errors, p99, lag, outbox backlog and dead letters of one service, and its own business figures."""
    api = f'service="{service}"'
    groups = f'group=~"{service}\\\\..*"'  # the service's consumer groups: "<service>.<purpose>"
    rows = [
        (
            "Requests per second",
            [(f"sum by (route) (rate(zorg_http_requests_total{{{api}}}[5m]))", "{{route}}")],
            "reqps",
        ),
        (
            "Errors (5xx) per second",
            [(f'sum by (route) (rate(zorg_http_requests_total{{{api},status=~"5.."}}[5m]))', "{{route}}")],
            "reqps",
        ),
        (
            "Latency p99",
            [
                (
                    "histogram_quantile(0.99, sum by (le, route) "
                    f"(rate(zorg_http_request_seconds_bucket{{{api}}}[5m])))",
                    "{{route}}",
                )
            ],
            "s",
        ),
        ("Consumer lag", [(f"sum by (group, topic) (zorg_consumer_lag{{{groups}}})", "{{group}} {{topic}}")], "short"),
        ("Outbox backlog", [(f"max(zorg_outbox_backlog{{{api}}})", "unsent events")], "short"),
        (
            "Dead letters (last hour)",
            [(f"sum by (group, topic) (increase(zorg_consumer_dead_letters_total{{{groups}}}[1h]))", "{{topic}}")],
            "short",
        ),
    ]
    if service == "claims":
        rows.append(
            (
                "Claims decided per minute, by outcome",
                [("sum by (outcome) (rate(zorg_claims_decided_total[5m])) * 60", "{{outcome}}")],
                "short",
            )
        )
    if service == "contracting":
        rows.append(
            (
                "Open procurements and days to the contracting deadline",
                [
                    ("max by (policy_id) (zorg_procurements_open)", "open {{policy_id}}"),
                    ("max by (policy_id) (zorg_procurement_deadline_days)", "days left {{policy_id}}"),
                ],
                "short",
            )
        )
    return {
        "uid": f"zorg-{service}",
        "title": f"Zorginkoop {service}",
        "tags": [PART_OF, service],
        "schemaVersion": 39,
        "timezone": "browser",
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {
            "list": [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]
        },
        "panels": [panel(title, targets, n, unit) for n, (title, targets, unit) in enumerate(rows)],
    }


def alert_rules() -> dict[str, Any]:
    rules = [
        {
            "alert": "ZorgConsumerLagGrowing",
            "expr": "sum by (group) (deriv(zorg_consumer_lag[5m])) > 0 and sum by (group) (zorg_consumer_lag) > 100",
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "Consumer group {{ $labels.group }} has fallen further behind for 10 minutes",
                "description": "Its workers cannot keep up: check KEDA scaled them (at most the partition count)"
                " and the worker logs for failing batches.",
            },
        },
        {
            "alert": "ZorgDeadLetters",
            "expr": "sum by (group, topic) (increase(zorg_consumer_dead_letters_total[1h])) > 0",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.group }} sent messages of {{ $labels.topic }} to its DLQ",
                "description": "The DLQ is not empty: read the messages' zorg_error headers, fix, and replay them.",
            },
        },
        {
            "alert": "ZorgOutboxBacklog",
            "expr": "max by (service) (zorg_outbox_backlog) > 1000",
            "for": "10m",
            "labels": {"severity": "warning"},
            "annotations": {
                "summary": "{{ $labels.service }} has {{ $value }} events not yet sent to Kafka",
                "description": "The relay is down, slow or cannot reach the brokers: check the relay deployment.",
            },
        },
        {
            "alert": "ZorgServerErrors",
            "expr": 'sum by (service) (rate(zorg_http_requests_total{status=~"5.."}[5m]))'
            " / sum by (service) (rate(zorg_http_requests_total[5m])) > 0.01",
            "for": "5m",
            "labels": {"severity": "critical"},
            "annotations": {
                "summary": "More than 1% of {{ $labels.service }}'s answers are 5xx",
                "description": "A 5xx is a bug or an outage (503 when the database is away): see the API's logs.",
            },
        },
        {
            "alert": "ZorgProcurementDeadlineNear",
            "expr": "max by (policy_id) (zorg_procurement_deadline_days) <= 7"
            " and max by (policy_id) (zorg_procurement_deadline_days) >= 0"
            " and on (policy_id) max by (policy_id) (zorg_procurements_open) > 0",
            "labels": {"severity": "info"},
            "annotations": {
                "summary": "{{ $labels.policy_id }}: the contracting deadline is within 7 days"
                " and procurements are still open",
                "description": "Open procurements close by themselves at the deadline (ProcurementClosed) and"
                " their held claims are released: the procurement team decides what to sign first.",
            },
        },
    ]
    return {"groups": [{"name": PART_OF, "rules": rules}]}


def files() -> dict[Path, str]:
    """Every file this script owns, with its text."""
    rendered: dict[Path, str] = {}

    def put(path: Path, content: list[dict[str, Any]] | dict[str, Any]) -> None:
        documents = content if isinstance(content, list) else [content]
        body = "---\n".join(yaml.safe_dump(d, sort_keys=False, width=120) for d in documents)
        rendered[path] = HEADER + body

    put(HERE / "base" / "kustomization.yaml", base_kustomization())
    put(HERE / "base" / "ingress.yaml", ingress())
    for service in SERVICES:
        put(HERE / "base" / f"{service}.yaml", service_objects(service, "kafka:9092"))
    for overlay, content in (("dev", dev()), ("production", production())):
        for filename, documents in content.items():
            put(HERE / "overlays" / overlay / filename, documents)
    for service in SERVICES:
        rendered[HERE.parent / "grafana" / f"{service}.json"] = json.dumps(dashboard(service), indent=2) + "\n"
    put(HERE.parent / "prometheus" / "alerts.yaml", alert_rules())
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    check = parser.parse_args(argv).check
    stale = []
    for path, text in files().items():
        if path.exists() and path.read_text() == text:
            continue
        stale.append(path.relative_to(HERE.parent))
        if not check:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
    if check and stale:
        print("out of date (run `make k8s`):", ", ".join(map(str, stale)), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
