"""ops/k8s/ is valid as it is applied: every resource the kustomization lists
validates offline (kubernetes-validate's schemas for Kubernetes' own kinds; the
vendored schemas of ops/k8s/schemas/ for KEDA's and the Prometheus Operator's),
each job kind has one GPU worker Deployment that drains within its pod's grace,
its ScaledObject counts that Deployment's kinds, and that query, run on a real
Postgres with jobs of every status, counts what a worker could take."""

import json
import re
from collections.abc import Iterator

import jsonschema
import kubernetes_validate
import pytest
import yaml
from sqlalchemy import create_engine, text

from db.jobs import create_job
from db.kinds import job_kinds
from db.models import JobStatus, QueuePause
from db.session import make_session_factory
from tests.support.processes import REPO_ROOT

K8S = REPO_ROOT / "ops" / "k8s"
KUBERNETES_VERSION = "1.33"
# group/version and kind -> the vendored schema, for the kinds Kubernetes does not define.
CRD_SCHEMAS = {
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects_v1alpha1.json",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_triggerauthentications_v1alpha1.json",
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors_v1.json",
    ("monitoring.coreos.com/v1", "PodMonitor"): "monitoring.coreos.com_podmonitors_v1.json",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules_v1.json",
}


def resources() -> list[dict]:
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return [
        document
        for path in kustomization["resources"]
        for document in yaml.safe_load_all((K8S / path).read_text())
        if document is not None
    ]


def of_kind(kind: str) -> list[dict]:
    return [resource for resource in resources() if resource["kind"] == kind]


def workers() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in of_kind("Deployment") if d["metadata"]["name"].startswith("genq-worker-")}


def container(deployment: dict) -> dict:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return only


def queues_of(deployment: dict) -> list[str]:
    args = container(deployment)["args"]
    return args[args.index("--queues") + 1].split(",")


def kinds_served(deployment: dict) -> set[str]:
    queues = set(queues_of(deployment))
    return {kind.name for kind in job_kinds().values() if kind.queue in queues}


def env_value(deployment: dict, name: str) -> str:
    [value] = [variable["value"] for variable in container(deployment)["env"] if variable["name"] == name]
    return value


def scaled_objects() -> dict[str, dict]:
    return {s["spec"]["scaleTargetRef"]["name"]: s for s in of_kind("ScaledObject")}


def walk(node) -> Iterator:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else []
    for child in children:
        yield from walk(child)


@pytest.mark.parametrize("resource", resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_each_resource_validates_against_its_schema(resource):
    vendored = CRD_SCHEMAS.get((resource["apiVersion"], resource["kind"]))
    if vendored is None:
        kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    else:
        schema = json.loads((K8S / "schemas" / vendored).read_text())
        jsonschema.validate(resource, schema)


def test_a_schema_rejects_what_the_operator_would():
    [scaled] = [s for s in of_kind("ScaledObject") if s["metadata"]["name"] == "genq-worker-images"]
    schema = json.loads((K8S / "schemas" / CRD_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")]).read_text())
    broken = json.loads(json.dumps(scaled))
    broken["spec"]["minReplicaCount"] = "none"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
    del broken["spec"]["scaleTargetRef"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)


def test_every_kind_has_exactly_one_gpu_worker_deployment_that_drains_within_its_grace():
    served = [kind for deployment in workers().values() for kind in kinds_served(deployment)]
    assert sorted(served) == sorted(job_kinds())
    for deployment in workers().values():
        pod = deployment["spec"]["template"]["spec"]
        worker = container(deployment)
        assert worker["args"][0] == "worker"
        assert worker["resources"]["limits"]["nvidia.com/gpu"] == 1
        drain_grace = float(env_value(deployment, "GENQ_WORKER_DRAIN_GRACE_SECONDS"))
        assert pod["terminationGracePeriodSeconds"] > drain_grace
        assert "kill -TERM 1" in " ".join(worker["lifecycle"]["preStop"]["exec"]["command"])
        assert {"name": "metrics", "containerPort": 9464} in worker["ports"]


def test_each_worker_deployment_scales_from_zero_on_the_job_rows_of_its_kinds():
    scaled = scaled_objects()
    assert set(scaled) == set(workers())
    for name, deployment in workers().items():
        spec = scaled[name]["spec"]
        assert spec["minReplicaCount"] == 0 and spec["cooldownPeriod"] >= 300
        scale_down = spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"]["scaleDown"]
        assert scale_down["stabilizationWindowSeconds"] >= 300
        [trigger] = spec["triggers"]
        assert trigger["type"] == "postgresql" and trigger["authenticationRef"]["name"] == "genq-postgres"
        assert trigger["metadata"]["activationTargetQueryValue"] == "0"
        assert int(trigger["metadata"]["targetQueryValue"]) >= 1
        named = set(re.findall(r"'(\w+)'", trigger["metadata"]["query"])) - {"queued", "running"}
        assert named == kinds_served(deployment)


def test_secrets_are_only_referenced():
    assert of_kind("Secret") == []
    for node in walk(resources()):
        if isinstance(node, dict) and "value" in node and isinstance(node["value"], str):
            assert "://" not in node["value"] or "@" not in node["value"], node
    config = of_kind("ConfigMap")[0]["data"]
    assert not {"GENQ_DATABASE_URL", "GENQ_BROKER_URL", "GENQ_SECRET_KEY"} & set(config)


def test_the_prometheus_rule_is_ops_monitoring_alert_rules():
    [rule] = of_kind("PrometheusRule")
    assert rule["spec"] == yaml.safe_load((REPO_ROOT / "ops" / "monitoring" / "alerts.yaml").read_text())


def test_the_monitors_scrape_the_web_service_port_and_the_worker_pods_metrics_port():
    [service] = [s for s in of_kind("Service") if s["metadata"]["name"] == "genq-web"]
    [service_monitor] = of_kind("ServiceMonitor")
    assert service_monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in service_monitor["spec"]["endpoints"]] == [p["name"] for p in service["spec"]["ports"]]
    [pod_monitor] = of_kind("PodMonitor")
    for deployment in workers().values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert pod_monitor["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert [e["port"] for e in pod_monitor["spec"]["podMetricsEndpoints"]] == ["metrics"]


def test_the_keda_query_counts_the_running_and_claimable_queued_jobs_of_its_kinds(settings):
    sessions = make_session_factory(settings.database_url)
    made: dict[tuple[str, str], int] = {}
    with sessions.begin() as session:
        for kind in job_kinds():
            for status, count in ((JobStatus.QUEUED, 3), (JobStatus.RUNNING, 2), (JobStatus.SUCCEEDED, 4)):
                for _ in range(count):
                    job = create_job(session, owner="ops", kind=kind, model="m", params={})
                    job.status = status
                made[kind, status] = count
        # A paused kind's queued jobs wait for no worker; its running ones still need theirs.
        session.add(QueuePause(kind="upscale", paused_by="ops"))
    engine = create_engine(settings.database_url)
    try:
        for name, deployment in workers().items():
            query = scaled_objects()[name]["spec"]["triggers"][0]["metadata"]["query"]
            with engine.connect() as connection:
                counted = connection.execute(text(query)).scalar_one()
            expected = sum(
                made[kind, JobStatus.RUNNING] + (0 if kind == "upscale" else made[kind, JobStatus.QUEUED])
                for kind in kinds_served(deployment)
            )
            assert counted == expected, name
    finally:
        engine.dispose()
        sessions.kw["bind"].dispose()
