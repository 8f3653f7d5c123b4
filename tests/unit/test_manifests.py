"""The Kubernetes manifests: every overlay renders; every object is valid for Kubernetes (strict)
and every custom resource for its CRD (k8s/crds); every pod meets the security policy; every
setting a service reads is wired into each of its containers; ports, probes and grace periods
agree with the settings."""

import copy
import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from functools import cache
from typing import Any

import config_reference
import jsonschema
import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from shared.queues import CHARGE_ISSUE, CONVERSION_REQUESTS, DELIVERIES, PDF_SYNC
from shared.tenants import default_limits
from tests.support.manifests import K8S, rendered

# what is applied on its own, and the parts production is made of (not applied alone)
OVERLAYS = ("dev", "local", "production", "production/first-admin-key")
PARTS = ("production/platform", "production/data")
KUBERNETES_VERSION = "1.31.0"
SERVICES = ("upload", "converter", "boleto-sync", "notifier")
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job")

# Settings deliberately not wired into a service's containers, and why.
UNWIRED: dict[str, str] = {
    "DEV_API_KEY": "a development key: refused when ENVIRONMENT=production; keys come from "
    "`python -m shared.auth create` (the first-admin-key Job)",
    "DEV_ADMIN_KEY": "as DEV_API_KEY",
    "PROMETHEUS_MULTIPROC_DIR": "set by the API process itself when it runs several processes "
    "(shared/metrics.py), to a folder under its /tmp emptyDir",
}
# Settings one service reads but has no use for in a cluster, and why.
UNWIRED_FOR: dict[str, dict[str, str]] = {
    "boleto-sync": {
        "SECRETS_KEY": "boleto-sync seals and opens nothing (shared.crypto is not on its path); "
        "the key stays with the services that need it",
        "SECRETS_OLD_KEYS": "as SECRETS_KEY",
    },
    "upload": {
        "UPLOAD_SANDBOX_BANK_URL": "the simulator's simulate-payment button: development only, "
        "refused when ENVIRONMENT=production",
        "UPLOAD_WEB_EVENTS_URL": "unset in a cluster: the Ingress routes /v1/events to the "
        "notifier on the API's host, so the page reads the stream on its own origin",
    },
    "notifier": {
        "NOTIFIER_CORS_ORIGINS": "none in a cluster: the page and the stream share the Ingress's "
        "origin; make run's separate ports need it",
    },
}


# ---------------------------------------------------------------------------- rendering


def pod_specs(
    docs: Iterator[dict[str, Any]] | tuple[dict[str, Any], ...],
) -> Iterator[tuple[str, dict[str, Any]]]:
    for doc in docs:
        if doc["kind"] in WORKLOADS:
            yield f"{doc['kind']}/{doc['metadata']['name']}", doc["spec"]["template"]["spec"]


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def service_containers(docs: tuple[dict[str, Any], ...], service: str) -> list[dict[str, Any]]:
    """The long-running containers of one service's Deployments."""
    return [
        container
        for doc in docs
        if doc["kind"] == "Deployment"
        and doc["metadata"]["labels"].get("app.kubernetes.io/name") == service
        and doc["metadata"]["labels"].get("app.kubernetes.io/part-of") == "schedule-platform"
        for container in doc["spec"]["template"]["spec"]["containers"]
    ]


def by_name(docs: tuple[dict[str, Any], ...], kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def environment(docs: tuple[dict[str, Any], ...], container: dict[str, Any]) -> dict[str, str]:
    """What the container's environment holds, as far as the rendered objects tell: a value,
    or ``<secret>`` / ``<optional>`` for references to objects or keys not rendered."""
    config_maps, secrets = by_name(docs, "ConfigMap"), by_name(docs, "Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]].get("data", {}))
        else:
            secret = secrets.get(source["secretRef"]["name"])
            env.update(dict.fromkeys(secret.get("data", {}) if secret else {}, "<secret>"))
    for var in container.get("env", []):
        ref = var.get("valueFrom", {})
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "configMapKeyRef" in ref:
            data = config_maps[ref["configMapKeyRef"]["name"]].get("data", {})
            env[var["name"]] = data.get(ref["configMapKeyRef"]["key"], "<optional>")
        else:
            env[var["name"]] = "<secret>"
    return env


# ---------------------------------------------------------------------------- CRD schemas


def _strict(schema: Any) -> Any:
    """A CRD's schema with unknown fields refused: the API server prunes them silently, which
    would hide a misspelt field until the operator ignores it."""
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    strict = {key: _strict(value) for key, value in schema.items()}
    if (
        "properties" in strict
        and "additionalProperties" not in strict
        and not strict.get("x-kubernetes-preserve-unknown-fields")
    ):
        strict["additionalProperties"] = False
    return strict


@cache
def crd_schemas() -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) to its openAPIV3Schema, from each CRD kept in k8s/crds."""
    schemas = {}
    for path in sorted((K8S / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        for version in crd["spec"]["versions"]:
            key = (f"{crd['spec']['group']}/{version['name']}", crd["spec"]["names"]["kind"])
            schemas[key] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


def crd_errors(doc: dict[str, Any]) -> list[str]:
    schema = crd_schemas()[(doc["apiVersion"], doc["kind"])]
    # metadata is checked by the API server, not by the CRD's schema
    body = {key: value for key, value in doc.items() if key != "metadata"}
    validator = jsonschema.Draft7Validator(schema)
    return [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(body)
    ]


def is_custom(doc: dict[str, Any]) -> bool:
    return (doc["apiVersion"], doc["kind"]) in crd_schemas()


# ---------------------------------------------------------------------------- the policy

SECRET_WORDS = {"PASSWORD", "PASSWD", "SECRET", "TOKEN", "KEY", "KEYS", "CREDENTIALS"}
CREDENTIALS_IN_URL = re.compile(r"://[^/\s:@]+:[^/\s@]+@")


@cache
def known_settings() -> dict[str, bool]:
    """Every setting a service reads, and whether the configuration reference calls it secret."""
    return {
        s.env: s.secret
        for settings in config_reference.settings_by_service().values()
        for s in settings
    }


def looks_secret(key: str, value: str) -> bool:
    """A setting the reference calls secret; for any other key, a name ending in a secret word
    (BOLETO_LIMIT_TOKEN, a rate limit, is a known setting and not secret); or a URL with a
    password in it."""
    if CREDENTIALS_IN_URL.search(value):
        return True
    if key in known_settings():
        return known_settings()[key]
    return key.upper().rsplit("_", 1)[-1] in SECRET_WORDS


def policy_violations(docs: list[dict[str, Any]] | tuple[dict[str, Any], ...]) -> list[str]:
    """Each way a pod or a ConfigMap breaks the platform's rules, one line each."""
    found = []
    for name, spec in pod_specs(tuple(docs)):
        pod_non_root = spec.get("securityContext", {}).get("runAsNonRoot") is True
        for container in containers(spec):
            where = f"{name} {container['name']}"
            context = container.get("securityContext", {})
            if context.get("runAsNonRoot", pod_non_root) is not True:
                found.append(f"{where}: runAsNonRoot")
            if context.get("readOnlyRootFilesystem") is not True:
                found.append(f"{where}: readOnlyRootFilesystem")
            if context.get("allowPrivilegeEscalation") is not False:
                found.append(f"{where}: allowPrivilegeEscalation")
            if "ALL" not in context.get("capabilities", {}).get("drop", []):
                found.append(f"{where}: capabilities")
            resources = container.get("resources", {})
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part, {})):
                    found.append(f"{where}: resources.{part}")
            if container.get("ports"):
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in container:
                        found.append(f"{where}: {probe}")
            image = container.get("image", "")
            tag = image.rpartition("/")[2].partition("@")[0].rpartition(":")[2]
            if ":" not in image.rpartition("/")[2] or tag == "latest":
                found.append(f"{where}: image tag ({image})")
    for doc in docs:
        if doc["kind"] != "ConfigMap":
            continue
        for key, value in doc.get("data", {}).items():
            if looks_secret(key, value):
                found.append(f"ConfigMap/{doc['metadata']['name']} {key}: secret in a ConfigMap")
    return found


# ---------------------------------------------------------------------------- tests


def test_every_kustomization_is_an_overlay_or_a_part_of_one() -> None:
    found = {
        str(path.parent.relative_to(K8S / "overlays"))
        for path in (K8S / "overlays").rglob("kustomization.yaml")
    }
    assert found == {*OVERLAYS, *PARTS}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_overlay_renders(overlay: str) -> None:
    docs = rendered(overlay)
    assert docs
    assert all({"apiVersion", "kind", "metadata"} <= set(doc) for doc in docs)


def test_every_service_is_deployed_in_dev_and_production_without_the_old_cut() -> None:
    assert not (K8S / "components" / "without-future-services").exists()
    for overlay in ("dev", "production"):
        deployments = set(by_name(rendered(overlay), "Deployment"))
        assert {
            "upload-api",
            "upload-worker",
            "converter",
            "boleto-sync-api",
            "boleto-sync-worker",
            "notifier-api",
            "notifier-worker",
        } <= deployments


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_for_kubernetes(overlay: str) -> None:
    for doc in rendered(overlay):
        if is_custom(doc):
            continue
        # raises ValidationError (strict: unknown fields too) or SchemaNotFoundError
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validation_refuses_an_unknown_field() -> None:
    deployment = copy.deepcopy(by_name(rendered("dev"), "Deployment")["converter"])
    deployment["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_custom_resource_matches_its_crd(overlay: str) -> None:
    for doc in rendered(overlay):
        if is_custom(doc):
            assert crd_errors(doc) == [], f"{doc['kind']}/{doc['metadata']['name']}"


def test_production_has_each_kind_of_custom_resource() -> None:
    kinds = {doc["kind"] for doc in rendered("production") if is_custom(doc)}
    assert kinds == {
        "ScaledObject",
        "TriggerAuthentication",
        "RabbitmqCluster",
        "MongoDBCommunity",
        "Tenant",
    }


@pytest.mark.parametrize(
    ("kind", "break_it"),
    [
        ("ScaledObject", lambda d: d["spec"].update(maxReplicas=3)),
        ("RabbitmqCluster", lambda d: d["spec"].update(replicas="three")),
        ("MongoDBCommunity", lambda d: d["spec"].update(type="Sharded")),
        ("Tenant", lambda d: d["spec"]["pools"][0].pop("servers")),
        ("TriggerAuthentication", lambda d: d["spec"]["secretTargetRef"][0].pop("key")),
    ],
)
def test_a_custom_resource_off_its_crd_is_caught(
    kind: str, break_it: Callable[[dict[str, Any]], Any]
) -> None:
    doc = copy.deepcopy(next(d for d in rendered("production") if d["kind"] == kind))
    break_it(doc)
    assert crd_errors(doc)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_pod_and_config_map_meets_the_policy(overlay: str) -> None:
    assert policy_violations(rendered(overlay)) == []


def _breaks() -> dict[str, Callable[[dict[str, Any]], None]]:
    def pod(d: dict[str, Any]) -> dict[str, Any]:
        return d["spec"]["template"]["spec"]  # type: ignore[no-any-return]

    def first(d: dict[str, Any]) -> dict[str, Any]:
        return pod(d)["containers"][0]  # type: ignore[no-any-return]

    return {
        "runAsNonRoot": lambda d: pod(d)["securityContext"].update(runAsNonRoot=False),
        "readOnlyRootFilesystem": lambda d: first(d)["securityContext"].pop(
            "readOnlyRootFilesystem"
        ),
        "allowPrivilegeEscalation": lambda d: first(d)["securityContext"].update(
            allowPrivilegeEscalation=True
        ),
        "capabilities": lambda d: first(d)["securityContext"]["capabilities"].update(drop=[]),
        "resources.requests": lambda d: first(d)["resources"]["requests"].pop("memory"),
        "resources.limits": lambda d: first(d)["resources"].pop("limits"),
        "readinessProbe": lambda d: first(d).pop("readinessProbe"),
        "livenessProbe": lambda d: first(d).pop("livenessProbe"),
        "image tag (schedule-platform/upload:latest)": lambda d: first(d).update(
            image="schedule-platform/upload:latest"
        ),
        "image tag (schedule-platform/upload)": lambda d: first(d).update(
            image="schedule-platform/upload"
        ),
    }


@pytest.mark.parametrize("rule", sorted(_breaks()))
def test_a_manifest_breaking_a_rule_is_caught(rule: str) -> None:
    good = by_name(rendered("dev"), "Deployment")["upload-api"]
    assert policy_violations([good]) == []
    broken = copy.deepcopy(good)
    _breaks()[rule](broken)
    assert policy_violations([broken]) == [f"Deployment/upload-api api: {rule}"]


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("S3_SECRET_KEY", "abc"),
        ("NOTIFIER_SMTP_PASSWORD", "abc"),
        ("BOLETO_WEBHOOK_TOKEN", "abc"),
        ("RABBITMQ_URL", "amqp://upload:hunter2@rabbitmq:5672/"),
        ("SOME_NEW_API_TOKEN", "abc"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:pw@collector:4318"),
    ],
)
def test_a_secret_in_a_config_map_is_caught(key: str, value: str) -> None:
    config_map = {"kind": "ConfigMap", "metadata": {"name": "x"}, "data": {key: value}}
    assert policy_violations([config_map]) == [f"ConfigMap/x {key}: secret in a ConfigMap"]


@pytest.mark.parametrize("overlay", ["dev", "production"])
@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_a_service_reads_is_wired(overlay: str, service: str) -> None:
    docs = rendered(overlay)
    reads = {s.env for s in config_reference.settings_by_service()[service]}
    expected = reads - set(UNWIRED) - set(UNWIRED_FOR.get(service, {}))
    found = service_containers(docs, service)
    assert found
    for container in found:
        assert sorted(expected - set(environment(docs, container))) == [], container["name"]


@pytest.mark.parametrize("overlay", ["dev", "production"])
@pytest.mark.parametrize("service", SERVICES)
def test_the_settings_classes_accept_the_manifests_values(
    overlay: str, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each value a ConfigMap or the Deployment gives parses as its setting's type (an empty
    string where a number or a boolean is read would stop the process at start)."""
    docs = rendered(overlay)
    settings = config_reference.settings_by_service()[service]
    classes = set()
    for owner in {s.owner for s in settings}:
        module, _, name = owner.rpartition(".")
        found = getattr(importlib.import_module(module), name, None) if module else None
        if inspect.isclass(found) and issubclass(found, BaseSettings):
            classes.add(found)
    assert classes
    for container in service_containers(docs, service):
        for setting in settings:
            monkeypatch.delenv(setting.env, raising=False)
        for name, value in environment(docs, container).items():
            if value not in {"<secret>", "<optional>"}:
                monkeypatch.setenv(name, value)
        for cls in classes:
            cls()
        default_limits()


def test_the_unwired_settings_are_read_and_left_out() -> None:
    reads = {
        s.env for settings in config_reference.settings_by_service().values() for s in settings
    }
    assert set(UNWIRED) <= reads
    for service, names in UNWIRED_FOR.items():
        assert set(names) <= {s.env for s in config_reference.settings_by_service()[service]}
    for overlay in ("dev", "production"):
        docs = rendered(overlay)
        for service in SERVICES:
            for container in service_containers(docs, service):
                left_out = set(UNWIRED) | set(UNWIRED_FOR.get(service, {}))
                assert left_out.isdisjoint(environment(docs, container))


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_secret_settings_come_from_secrets(overlay: str) -> None:
    docs = rendered(overlay)
    for service, settings in config_reference.settings_by_service().items():
        secret = {s.env for s in settings if s.secret}
        for container in service_containers(docs, service):
            env = environment(docs, container)
            for name in secret & set(env):
                assert env[name] == "<secret>", f"{container['name']} {name}"


def test_every_reference_resolves_in_dev() -> None:
    """The dev overlay brings all its Secrets: each key a pod names is there (or optional)."""
    docs = rendered("dev")
    objects = {
        "secretKeyRef": by_name(docs, "Secret"),
        "configMapKeyRef": by_name(docs, "ConfigMap"),
    }
    for name, spec in pod_specs(docs):
        for container in containers(spec):
            for var in container.get("env", []):
                for kind, ref in var.get("valueFrom", {}).items():
                    if ref.get("optional"):
                        continue
                    data = objects[kind][ref["name"]]
                    assert ref["key"] in {**data.get("data", {}), **data.get("stringData", {})}, (
                        f"{name} {var['name']}"
                    )


def _port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    return next(p["containerPort"] for p in container["ports"] if p["name"] == port)


PREFIXES = {
    "upload": "UPLOAD",
    "converter": "CONVERTER",
    "boleto-sync": "BOLETO",
    "notifier": "NOTIFIER",
}


@pytest.mark.parametrize("overlay", ["dev", "production"])
@pytest.mark.parametrize("service", SERVICES)
def test_processes_listen_where_their_probes_and_service_look(overlay: str, service: str) -> None:
    docs = rendered(overlay)
    prefix = PREFIXES[service]
    for container in service_containers(docs, service):
        env = environment(docs, container)
        role = container.get("args", ["worker"])[0]
        served = int(env[f"{prefix}_PORT" if role == "api" else f"{prefix}_OPS_PORT"])
        assert env[f"{prefix}_HOST"] == "0.0.0.0"
        assert [p["containerPort"] for p in container["ports"]] == [served]
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            if probe in container:
                assert _port(container, container[probe]["httpGet"]["port"]) == served


@pytest.mark.parametrize("overlay", ["dev", "production"])
def test_termination_grace_outlasts_the_shutdown_deadline(overlay: str) -> None:
    docs = rendered(overlay)
    for service in SERVICES:
        for doc in by_name(docs, "Deployment").values():
            if doc["metadata"]["labels"].get("app.kubernetes.io/name") != service:
                continue
            spec = doc["spec"]["template"]["spec"]
            for container in spec["containers"]:
                env = environment(docs, container)
                deadline = float(env["SHUTDOWN_GRACE_S"])
                pre_stop = 5 if "lifecycle" in container else 0
                # a webhook attempt begun at the deadline, or a conversion begun just before
                # SIGTERM, still ends inside the grace period
                worker = container.get("args") == ["worker"]
                last = float(env.get("NOTIFIER_ATTEMPT_TIMEOUT_S", 0)) if worker else 0
                assert float(env.get("CONVERTER_JOB_TIMEOUT_S", 0)) < deadline
                grace = spec["terminationGracePeriodSeconds"]
                assert grace > deadline + pre_stop + last, doc["metadata"]["name"]


def test_the_workers_scale_on_their_own_queues_and_boleto_sync_is_bounded() -> None:
    scaled = by_name(rendered("production"), "ScaledObject")
    named = {
        name: {t["metadata"]["queueName"] for t in doc["spec"]["triggers"]}
        for name, doc in scaled.items()
    }
    assert named == {
        "converter": {CONVERSION_REQUESTS},
        "boleto-sync-worker": {CHARGE_ISSUE, PDF_SYNC},
        "notifier-worker": {DELIVERIES},
    }
    assert scaled["boleto-sync-worker"]["spec"]["maxReplicaCount"] <= 3
    deployments = by_name(rendered("production"), "Deployment")
    for name in named:
        assert "replicas" not in deployments[name]["spec"]
    hpas = by_name(rendered("production"), "HorizontalPodAutoscaler")
    assert set(hpas) == {"upload-api", "boleto-sync-api", "notifier-api"}


def test_the_converter_reaches_only_dns_and_the_backing_services() -> None:
    docs = rendered("production")
    labels = by_name(docs, "Deployment")["converter"]["spec"]["template"]["metadata"]["labels"]
    egress = [
        rule
        for policy in by_name(docs, "NetworkPolicy").values()
        if "Egress" in policy["spec"]["policyTypes"]
        and policy["spec"]["podSelector"]["matchLabels"].items() <= labels.items()
        for rule in policy["spec"].get("egress", [])
    ]
    assert egress
    for rule in egress:
        for peer in rule["to"]:
            assert "ipBlock" not in peer
            assert "podSelector" in peer


def test_internet_egress_never_reaches_private_or_link_local_addresses() -> None:
    blocks = [
        peer["ipBlock"]
        for policy in by_name(rendered("production"), "NetworkPolicy").values()
        for rule in policy["spec"].get("egress", [])
        for peer in rule["to"]
        if "ipBlock" in peer
    ]
    assert blocks
    for block in blocks:
        must = {"169.254.0.0/16", "10.0.0.0/8"} if ":" not in block["cidr"] else {"fe80::/10"}
        assert must <= set(block["except"]), block
