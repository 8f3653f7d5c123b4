"""``make deploy-local`` / ``make undeploy-local``: the Kubernetes manifests run on this machine.

The local overlay (k8s/overlays/local: the dev overlay with the addresses podman gives it) is
rendered with ``kubectl kustomize`` and translated into what ``podman kube play`` (4.3) runs:

- kinds it does not run (Namespace, ServiceAccount, PodDisruptionBudget, Ingress, HPA,
  ScaledObject, NetworkPolicy, Job...) are left out, each named with the reason;
- Secrets become podman secrets (a JSON map of base64 values, as kube play reads them);
- each Deployment becomes one Pod named after the Service that selects it (its name
  otherwise): pods reach each other on a podman network whose DNS answers pod names, so the
  manifests' Service names (``rabbitmq``, ``mongodb``, ``s3``...) resolve; Services themselves
  are left out (podman has no cluster IPs), and the overlay names the container ports where a
  Service mapped port 80 to them;
- every container port gets a host port that collides with nothing ``make run`` or the tests
  use (public APIs on 18000-18002 and the simulator on 18090; the rest from 18100);
- each emptyDir gets a volume of its own (kube play names a volume after the emptyDir, so two
  pods' ``tmp`` would otherwise be one volume); optional Secret volumes whose Secret the
  overlay does not define are dropped, as Kubernetes would mount nothing there.

Everything created carries the prefix or label ``schedule-platform-local`` and is recorded in
``.data/deploy-local/state.json`` (which ``make test-deploy`` reads for the host ports), so
``undeploy`` removes exactly that. Readiness is each container's own probe, run from the host
against its host port: HTTP readiness paths answered 200, TCP ports accepting.

Usage: deploy_local.py [deploy|undeploy|status]
"""

from __future__ import annotations

import base64
import copy
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAY = ROOT / "k8s" / "overlays" / "local"
STATE_DIR = ROOT / ".data" / "deploy-local"
STATE = STATE_DIR / "state.json"
CONTAINERS_CONF = ROOT / "deploy" / "containers.conf"
NETWORK = "schedule-platform-local"
# The overlay's NOTIFIER_ALLOWED_NETWORKS names this subnet: webhooks may reach the host here.
SUBNET = "10.89.77.0/24"
GATEWAY = "10.89.77.1"
VOLUME_PREFIX = "schedule-platform-local"
# Public ports keep make run's numbers plus 10000; every other port is numbered from 18100.
PUBLIC_PORTS = {8000: 18000, 8001: 18001, 8002: 18002, 8090: 18090}
OTHER_PORTS_FROM = 18100
READY_TIMEOUT_S = float(os.environ.get("DEPLOY_LOCAL_READY_TIMEOUT_S", "240"))
IMAGE_REGISTRY = "localhost/"

# What kube play 4.3 does not run, and why it does not matter on one machine.
LEFT_OUT = {
    "Namespace": "podman has no namespaces; everything runs in one network",
    "ServiceAccount": "podman has no API server to authenticate to",
    "PodDisruptionBudget": "nothing evicts pods here",
    "Ingress": "no ingress controller; the APIs are published on host ports",
    "HorizontalPodAutoscaler": "one replica of each workload here",
    "ScaledObject": "no KEDA; one replica of each worker here",
    "NetworkPolicy": "podman does not enforce network policies",
    "Job": "kube play runs Pods, Deployments and DaemonSets only",
    "Service": "pods are named after their Services, which the network's DNS answers",
    "ConfigMap": "its values are written into each container's environment",
    "Secret": "created as podman secrets, read by kube play",
    "optional Secret volume": "its Secret is not in the overlay; Kubernetes mounts nothing either",
}


def podman(
    *args: str, check: bool = True, capture: bool = True
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    result = subprocess.run(
        ["podman", *args], env=env, text=True, capture_output=capture, check=False
    )
    if check and result.returncode != 0:
        raise SystemExit(
            f"podman {' '.join(args)} failed ({result.returncode}):\n{result.stderr.strip()}"
        )
    return result


def render() -> list[dict[str, Any]]:
    out = subprocess.run(
        ["kubectl", "kustomize", str(OVERLAY)], text=True, capture_output=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


def translate(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The pods, secrets and notes of one deployment (see the module's docstring)."""
    notes: dict[str, list[str]] = {}
    config_maps = {
        d["metadata"]["name"]: d.get("data", {}) for d in docs if d["kind"] == "ConfigMap"
    }
    secrets: dict[str, dict[str, str]] = {}
    for doc in docs:
        if doc["kind"] == "Secret":
            data = dict(doc.get("data", {}))
            for key, value in doc.get("stringData", {}).items():
                data[key] = base64.b64encode(value.encode()).decode()
            secrets[doc["metadata"]["name"]] = data
    services = [d for d in docs if d["kind"] == "Service"]
    pods: list[dict[str, Any]] = []
    next_port = OTHER_PORTS_FROM
    for doc in docs:
        kind = doc["kind"]
        if kind != "Deployment":
            notes.setdefault(kind, []).append(doc["metadata"]["name"])
            continue
        template = copy.deepcopy(doc["spec"]["template"])
        labels = template["metadata"].get("labels", {})
        names = [
            s["metadata"]["name"]
            for s in services
            if _selects(s["spec"].get("selector", {}), labels)
        ]
        name = names[0] if names else doc["metadata"]["name"]
        spec = template["spec"]
        for key in (
            "serviceAccountName",
            "topologySpreadConstraints",
            "automountServiceAccountToken",
            "enableServiceLinks",
        ):
            spec.pop(key, None)
        volumes = []
        for volume in spec.get("volumes", []):
            if "emptyDir" in volume:
                volumes.append(
                    {
                        "name": volume["name"],
                        "persistentVolumeClaim": {
                            "claimName": f"{VOLUME_PREFIX}-{name}-{volume['name']}"
                        },
                    }
                )
            elif "secret" in volume and volume["secret"]["secretName"] not in secrets:
                if not volume["secret"].get("optional"):
                    raise SystemExit(
                        f"{name}: Secret {volume['secret']['secretName']} is not in the overlay"
                    )
                notes.setdefault("optional Secret volume", []).append(f"{name}/{volume['name']}")
            else:
                volumes.append(volume)
        kept = {v["name"] for v in volumes}
        spec["volumes"] = volumes
        containers = []
        for container in spec["containers"]:
            container["image"] = IMAGE_REGISTRY + container["image"]
            container["volumeMounts"] = [
                m for m in container.get("volumeMounts", []) if m["name"] in kept
            ]
            container["env"] = _environment(container, config_maps, secrets)
            container.pop("envFrom", None)
            # No systemd here, so podman would only log errors about scheduling these.
            for probe in ("livenessProbe", "startupProbe"):
                container.pop(probe, None)
            for port in container.get("ports", []):
                number = port["containerPort"]
                if number in PUBLIC_PORTS:
                    port["hostPort"] = PUBLIC_PORTS[number]
                else:
                    port["hostPort"] = next_port
                    next_port += 1
            containers.append(container)
        pods.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {
                    "name": name,
                    "labels": {**labels, "schedule-platform-local": "true"},
                    "annotations": template["metadata"].get("annotations", {}),
                },
                "spec": {**spec, "restartPolicy": "Always"},
            }
        )
    return {"pods": pods, "secrets": secrets, "notes": notes}


def _environment(
    container: dict[str, Any],
    config_maps: dict[str, dict[str, str]],
    secrets: dict[str, dict[str, str]],
) -> list[dict[str, Any]]:
    """envFrom and configMapKeyRef resolved into values, as the kubelet would; secretKeyRef
    left to podman's secrets, except optional ones whose key is absent (podman refuses them)."""
    env: dict[str, dict[str, Any]] = {}
    for source in container.get("envFrom", []):
        ref = source.get("configMapRef")
        if ref is None:
            raise SystemExit(f"envFrom {source} is not supported here")
        for key, value in config_maps[ref["name"]].items():
            env[key] = {"name": key, "value": value}
    for item in container.get("env", []):
        source = item.get("valueFrom", {})
        if "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            found = config_maps.get(ref["name"], {}).get(ref["key"])
            if found is None:
                if not ref.get("optional"):
                    raise SystemExit(f"{item['name']}: {ref['name']} has no {ref['key']}")
                env.pop(item["name"], None)
                continue
            env[item["name"]] = {"name": item["name"], "value": found}
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            if ref["key"] not in secrets.get(ref["name"], {}):
                if not ref.get("optional"):
                    raise SystemExit(f"{item['name']}: Secret {ref['name']} has no {ref['key']}")
                env.pop(item["name"], None)
                continue
            env[item["name"]] = {
                "name": item["name"],
                "valueFrom": {"secretKeyRef": {"name": ref["name"], "key": ref["key"]}},
            }
        else:
            env[item["name"]] = item
    return list(env.values())


def undeploy(quiet: bool = False) -> None:
    state = json.loads(STATE.read_text()) if STATE.exists() else {}
    pods = set(state.get("pods", []))
    listed = podman(
        "pod", "ls", "--filter", "label=schedule-platform-local=true", "--format", "{{.Name}}"
    ).stdout
    pods.update(p for p in listed.split() if p)
    existing = set(podman("pod", "ls", "--format", "{{.Name}}").stdout.split())
    backing = set(
        podman(
            "pod",
            "ls",
            "--format",
            "{{.Name}}",
            "--filter",
            "label=app.kubernetes.io/component=dev-backing-service",
        ).stdout.split()
    )
    # The services first, while the broker and the database they drain to are still there
    # (without them a service's shutdown waits out its 10 s in reconnection attempts).
    for group in (pods & existing - backing, pods & existing & backing):
        # one podman per pod: a single `pod rm` of many removes them one after the other
        with ThreadPoolExecutor(max_workers=len(group) or 1) as pool:
            list(
                pool.map(lambda pod: podman("pod", "rm", "-f", "-t", "10", pod, check=False), group)
            )
    volumes = set(state.get("volumes", []))
    listed = podman("volume", "ls", "--format", "{{.Name}}").stdout
    volumes.update(v for v in listed.split() if v.startswith(VOLUME_PREFIX + "-"))
    for volume in sorted(volumes):
        podman("volume", "rm", "--force", volume, check=False)
    existing = set(podman("secret", "ls", "--format", "{{.Name}}").stdout.split())
    for secret in sorted(set(state.get("secrets", [])) & existing):
        podman("secret", "rm", secret, check=False)
    if podman("network", "exists", NETWORK, check=False).returncode == 0:
        podman("network", "rm", "--force", NETWORK, check=False)
    STATE.unlink(missing_ok=True)
    if not quiet:
        print(
            f"undeploy-local: removed {len(pods)} pods, {len(volumes)} volumes, "
            f"{len(state.get('secrets', []))} secrets and the network {NETWORK}"
        )


def deploy() -> None:
    started = time.monotonic()
    plan = translate(render())
    images = {c["image"] for p in plan["pods"] for c in p["spec"]["containers"]}
    missing = sorted(i for i in images if podman("image", "exists", i, check=False).returncode)
    if missing:
        raise SystemExit(f"deploy-local: images missing: {', '.join(missing)} (run `make images`)")
    for kind, names in sorted(plan["notes"].items()):
        reason = LEFT_OUT.get(kind, "not run by podman kube play")
        print(f"deploy-local: left out {kind} ({', '.join(names)}): {reason}")
    # A second deploy replaces the first.
    undeploy(quiet=True)
    existing = set(podman("secret", "ls", "--format", "{{.Name}}").stdout.split())
    clash = existing & set(plan["secrets"])
    if clash:
        raise SystemExit(f"podman secrets {sorted(clash)} exist and are not this deployment's")
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state: dict[str, Any] = {
        "network": NETWORK,
        "gateway": GATEWAY,
        "subnet": SUBNET,
        "pods": [p["metadata"]["name"] for p in plan["pods"]],
        "secrets": sorted(plan["secrets"]),
        "volumes": sorted(
            v["persistentVolumeClaim"]["claimName"]
            for p in plan["pods"]
            for v in p["spec"]["volumes"]
            if "persistentVolumeClaim" in v
        ),
        "containers": {},
    }
    STATE.write_text(json.dumps(state, indent=2))  # so a failed deploy is undone too
    podman(
        "network",
        "create",
        "--subnet",
        SUBNET,
        "--gateway",
        GATEWAY,
        "--label",
        "schedule-platform-local=true",
        NETWORK,
    )
    with tempfile.TemporaryDirectory() as folder:
        for name, data in plan["secrets"].items():
            path = Path(folder) / f"{name}.json"
            path.write_text(json.dumps(data))
            podman("secret", "create", name, str(path))
        for pod in plan["pods"]:
            name = pod["metadata"]["name"]
            for container in pod["spec"]["containers"]:
                state["containers"][f"{name}-{container['name']}"] = {
                    "pod": name,
                    "ports": {
                        p.get("name", str(p["containerPort"])): p["hostPort"]
                        for p in container.get("ports", [])
                    },
                    "readiness": _readiness(container),
                }
        STATE.write_text(json.dumps(state, indent=2))
        (STATE_DIR / "pods.yaml").write_text(yaml.safe_dump_all(plan["pods"], sort_keys=False))
        for volume in state["volumes"]:
            podman("volume", "create", "--label", "schedule-platform-local=true", volume)
        # The backing services first: the services would otherwise exit until the broker
        # answers and be restarted by podman (as by the kubelet), slower and noisier.
        backing = [p for p in plan["pods"] if _is_backing(p)]
        services = [p for p in plan["pods"] if not _is_backing(p)]
        for group, what in ((backing, "backing services"), (services, "services")):
            manifest = Path(folder) / f"{what.replace(' ', '-')}.yaml"
            manifest.write_text(yaml.safe_dump_all(group, sort_keys=False))
            podman("kube", "play", "--network", NETWORK, str(manifest))
            names = {p["metadata"]["name"] for p in group}
            print(
                f"deploy-local: {len(group)} pods of the {what} started "
                f"({time.monotonic() - started:.0f} s); waiting until ready"
            )
            wait_ready(state, names)
    print(f"deploy-local: every pod ready after {time.monotonic() - started:.0f} s; ports:")
    for container, info in sorted(state["containers"].items()):
        ports = ", ".join(f"{k} {v}" for k, v in info["ports"].items())
        print(f"  {container}: {ports}")


def _readiness(container: dict[str, Any]) -> dict[str, Any] | None:
    probe = container.get("readinessProbe")
    if probe is None:
        return None
    ports = {p.get("name"): p["hostPort"] for p in container.get("ports", [])}
    ports.update({p["containerPort"]: p["hostPort"] for p in container.get("ports", [])})
    if "httpGet" in probe:
        return {"http": probe["httpGet"]["path"], "port": ports[probe["httpGet"]["port"]]}
    if "tcpSocket" in probe:
        return {"tcp": True, "port": ports[probe["tcpSocket"]["port"]]}
    raise SystemExit(f"{container['name']}: readiness probe {probe} is not supported here")


def probe(readiness: dict[str, Any]) -> str | None:
    """None when ready, else why not."""
    port = readiness["port"]
    if "http" in readiness:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{port}{readiness['http']}", timeout=3
            ) as r:
                return None if r.status == 200 else f"answered {r.status}"
        except urllib.error.HTTPError as error:
            return f"answered {error.code}"
        except OSError as error:
            return str(error)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=3):
            return None
    except OSError as error:
        return str(error)


def _is_backing(pod: dict[str, Any]) -> bool:
    labels = pod["metadata"]["labels"]
    return labels.get("app.kubernetes.io/component") == "dev-backing-service"


def wait_ready(state: dict[str, Any], pods: set[str], timeout: float = READY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    pending = {
        c: i["readiness"]
        for c, i in state["containers"].items()
        if i["readiness"] and i["pod"] in pods
    }
    why: dict[str, str] = {}
    while pending and time.monotonic() < deadline:
        for container, readiness in list(pending.items()):
            reason = probe(readiness)
            if reason is None:
                del pending[container]
            else:
                why[container] = reason
        if pending:
            time.sleep(1)
    if not pending:
        return
    for container in sorted(pending):
        status = podman(
            "inspect",
            "--format",
            "{{.State.Status}} (exit {{.State.ExitCode}}, restarts {{.RestartCount}})",
            container,
            check=False,
        ).stdout.strip()
        logs = podman("logs", "--tail", "40", container, check=False)
        print(
            f"\n=== {container}: not ready after {timeout:.0f} s ({why.get(container)}); "
            f"{status}; its last log lines:",
            file=sys.stderr,
        )
        print((logs.stdout + logs.stderr).rstrip(), file=sys.stderr)
    raise SystemExit(
        f"deploy-local: {', '.join(sorted(pending))} not ready within {timeout:.0f} s "
        "(make undeploy-local removes it all)"
    )


def status() -> int:
    if not STATE.exists():
        print("deploy-local: nothing deployed")
        return 1
    state = json.loads(STATE.read_text())
    failing = 0
    for container, info in sorted(state["containers"].items()):
        if info["readiness"]:
            reason = probe(info["readiness"])
            failing += reason is not None
            print(f"{container}: {'ready' if reason is None else reason}")
    return 1 if failing else 0


def main() -> int:
    command = sys.argv[1] if len(sys.argv) > 1 else "deploy"
    if os.geteuid() != 0:
        raise SystemExit("deploy-local runs podman as root (as make images does)")
    if command == "deploy":
        deploy()
    elif command == "undeploy":
        undeploy()
    elif command == "status":
        return status()
    else:
        raise SystemExit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main())
