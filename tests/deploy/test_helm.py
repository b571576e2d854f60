"""deploy/helm/cairn: ``helm lint --strict`` passes, ``helm template`` renders for the default,
the operator-managed and the existing-Secrets configurations, and every rendered built-in
Kubernetes object validates against the bundled Kubernetes schemas (kubernetes-validate,
strict: unknown fields are errors). Operator resources (Strimzi, Altinity, Prometheus Operator)
have no schema there; they are checked for shape here. Nothing is applied to a cluster."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.tools import CHART, run, tools

CRD_GROUPS = (
    "kafka.strimzi.io/",
    "clickhouse.altinity.com/",
    "clickhouse-keeper.altinity.com/",
    "monitoring.coreos.com/",
)
ALL_OPTIONS = [
    "--set",
    "kafka.strimzi.enabled=true",
    "--set",
    "clickhouse.altinity.enabled=true",
    "--set",
    "serviceMonitor.enabled=true",
    "--set",
    "portal.apiKeySecret=portal-key",
    "--set",
    "portal.usersSecret=portal-users",
    "--set",
    "image.digest=sha256:" + "ab" * 32,
]
EXISTING_SECRETS = [
    "--set",
    "secrets.existingSecret=cairn-pepper",
    "--set",
    "clickhouse.existingSecret=cairn-ch",
    "--set",
    "ingest.autoscaling.enabled=false",
]

# They run the validators deploy/tools/install.sh installs (helm is built once, minutes).
pytestmark = pytest.mark.integration


def template(*options: str) -> list[dict[str, Any]]:
    result = run([tools().helm, "template", "cairn", CHART, "--namespace", "ml", *options])
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [d for d in docs if d["kind"] == kind]


def named(docs: list[dict[str, Any]], kind: str, suffix: str) -> dict[str, Any]:
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"].endswith(suffix)]
    return doc


def test_helm_lint_strict_passes() -> None:
    for options in ([], ALL_OPTIONS, EXISTING_SECRETS):
        result = run([tools().helm, "lint", "--strict", CHART, *options])
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    "options", [[], ALL_OPTIONS, EXISTING_SECRETS], ids=["default", "operators", "existing"]
)
def test_rendered_manifests_validate_against_kubernetes_schemas(
    options: list[str], tmp_path: Path
) -> None:
    docs = template(*options)
    builtin = [d for d in docs if not d["apiVersion"].startswith(CRD_GROUPS)]
    assert len(builtin) >= 10
    path = tmp_path / "rendered.yaml"
    path.write_text(yaml.safe_dump_all(builtin))
    result = run([tools().kubernetes_validate, "--strict", path])
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(" passed for resource ") == len(builtin), result.stdout


def test_the_schema_check_rejects_an_unknown_field(tmp_path: Path) -> None:
    deployment = named(template(), "Deployment", "-ingest")
    deployment["spec"]["replica"] = 2  # misspelt
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(deployment))
    result = run([tools().kubernetes_validate, "--strict", path])
    assert result.returncode != 0
    assert "replica" in result.stdout + result.stderr


def test_ingest_scales_with_an_hpa_and_a_disruption_budget() -> None:
    docs = template()
    hpa = named(docs, "HorizontalPodAutoscaler", "-ingest")
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["scaleTargetRef"]["name"] == "cairn-ingest"
    pdb = named(docs, "PodDisruptionBudget", "-ingest")
    assert pdb["spec"]["maxUnavailable"] == 1
    ingest = named(docs, "Deployment", "-ingest")
    assert "replicas" not in ingest["spec"]  # the HPA owns the count
    assert ingest["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize(
    ("partitions", "per_worker", "workers"), [(12, 4, 3), (12, 5, 3), (24, 4, 6), (3, 1, 3)]
)
def test_processors_are_sized_to_the_partitions(
    partitions: int, per_worker: int, workers: int
) -> None:
    docs = template(
        "--set",
        f"kafka.eventsPartitions={partitions}",
        "--set",
        f"processors.partitionsPerWorker={per_worker}",
    )
    assert named(docs, "Deployment", "-processors")["spec"]["replicas"] == workers
    job = by_kind(docs, "Job")[0]
    env = {
        e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["CAIRN_EVENTS_PARTITIONS"] == str(partitions)


def test_more_workers_than_partitions_is_refused() -> None:
    result = run([tools().helm, "template", "cairn", CHART, "--set", "processors.replicas=13"])
    assert result.returncode != 0
    assert "must not exceed kafka.eventsPartitions (12)" in result.stderr


def test_secrets_feed_every_service_and_existing_secrets_are_used() -> None:
    docs = template()
    secrets = {d["metadata"]["name"]: d for d in by_kind(docs, "Secret")}
    assert set(secrets) == {"cairn-secrets", "cairn-clickhouse"}
    assert set(secrets["cairn-secrets"]["data"]) == {"api-key-pepper"}
    assert set(secrets["cairn-clickhouse"]["data"]) == {"clickhouse-user", "clickhouse-password"}
    for deployment in by_kind(docs, "Deployment"):
        env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
        refs = {e["valueFrom"]["secretKeyRef"]["key"] for e in env if "valueFrom" in e}
        assert {"api-key-pepper", "clickhouse-user", "clickhouse-password"} <= refs
        url = next(e["value"] for e in env if e["name"] == "CAIRN_CLICKHOUSE_URL")
        assert "$(CAIRN_CLICKHOUSE_PASSWORD)" in url  # composed by Kubernetes, not in the manifest
    existing = template(*EXISTING_SECRETS)
    assert by_kind(existing, "Secret") == []
    env = named(existing, "Deployment", "-ingest")["spec"]["template"]["spec"]["containers"][0][
        "env"
    ]
    names = {e["valueFrom"]["secretKeyRef"]["name"] for e in env if "valueFrom" in e}
    assert names == {"cairn-pepper", "cairn-ch"}


def test_every_pod_runs_as_non_root_with_a_read_only_root() -> None:
    docs = template(*ALL_OPTIONS)
    pods = [d["spec"]["template"]["spec"] for d in docs if d["kind"] in ("Deployment", "Job")]
    assert len(pods) == 4
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["automountServiceAccountToken"] is False
        for container in pod["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            assert container["image"] == "registry.example.com/cairn@sha256:" + "ab" * 32


def test_operator_resources_for_strimzi_altinity_and_prometheus() -> None:
    docs = template(*ALL_OPTIONS)
    kafka = by_kind(docs, "Kafka")[0]
    assert kafka["spec"]["kafka"]["config"]["min.insync.replicas"] == 2
    assert by_kind(docs, "KafkaNodePool")[0]["spec"]["roles"] == ["controller", "broker"]
    topics = {t["metadata"]["name"]: t["spec"] for t in by_kind(docs, "KafkaTopic")}
    assert topics["cairn.events.v1"]["partitions"] == 12
    assert {t["replicas"] for t in topics.values()} == {3}
    chi = by_kind(docs, "ClickHouseInstallation")[0]
    assert chi["spec"]["configuration"]["clusters"][0]["name"] == "cairn"
    assert by_kind(docs, "ClickHouseKeeperInstallation")[0]["spec"]["configuration"]["clusters"]
    monitor = by_kind(docs, "ServiceMonitor")[0]
    assert {e["port"] for e in monitor["spec"]["endpoints"]} == {"metrics", "http"}
    ingest_env = named(docs, "Deployment", "-ingest")["spec"]["template"]["spec"]["containers"][0]
    bootstrap = next(e["value"] for e in ingest_env["env"] if e["name"] == "CAIRN_KAFKA_BOOTSTRAP")
    assert bootstrap == "cairn-kafka-bootstrap:9092"


def test_every_value_is_documented() -> None:
    """Each key of values.yaml has a ``# --`` comment (or its continuation) right above it."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    undocumented = []
    for i, line in enumerate(lines):
        match = re.match(r"^(\s*)([A-Za-z][\w.-]*):", line)
        if not match:
            continue
        j = i - 1
        while (
            j >= 0 and lines[j].strip().startswith("#") and not lines[j].strip().startswith("# --")
        ):
            j -= 1
        if j < 0 or not lines[j].strip().startswith("# --"):
            parent_inline = re.match(r"^\s*(requests|limits):", line)
            if not parent_inline:
                undocumented.append(line.strip())
    assert undocumented == []
