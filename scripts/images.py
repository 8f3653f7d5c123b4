"""``make images``: every service's container image, built with podman on this machine.

No container registry is reachable here, so the base images the Dockerfiles name are made
locally, once: a Debian 12 minbase root (mmdebstrap, from the apt source this machine uses)
imported as ``debian:bookworm-slim``, Debian's Python 3.11 on it as
``python:3.11-slim-bookworm``, and ``ghcr.io/astral-sh/uv:<version>`` from the uv wheel on
PyPI. The service images are then built from ``deploy/Dockerfile`` exactly as a registry build
would, with one difference: their build stage (never a shipped one) runs on a copy of the
Python base that trusts this machine's CA certificates, so uv reaches PyPI.

Run as root on Debian 12; podman and its tools are installed with apt-get when missing.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
CONTAINERS_CONF = DEPLOY / "containers.conf"
TOOLS = ("podman", "buildah", "skopeo", "mmdebstrap", "runc")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")

DEBIAN_IMAGE = "docker.io/library/debian:bookworm-slim"
PYTHON_IMAGE = "docker.io/library/python:3.11-slim-bookworm"
BUILD_IMAGE = "localhost/schedule-platform/build-base:3.11-bookworm"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Docker's slim images leave these out too; copyright files stay.
DPKG_EXCLUDES = (
    "/usr/share/man",
    "/usr/share/doc",
    "/usr/share/locale",
    "/usr/share/info",
    "/usr/share/lintian",
)
# Written into the image's apt configuration, as in Docker's Debian images: apt-get runs in
# later Dockerfiles leave no package caches or downloaded .debs in their layers.
APT_CLEAN = """APT::Install-Recommends "false";
APT::Keep-Downloaded-Packages "false";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
"""
TAG = "dev"


@dataclass(frozen=True)
class Service:
    name: str
    module: str
    env_prefix: str
    api_port: int | None
    ops_port: int
    target: str = "service"
    dev_only: bool = False

    @property
    def image(self) -> str:
        return f"schedule-platform/{self.name}:{TAG}"

    def build_args(self) -> dict[str, str]:
        args = {
            "SERVICE": self.name,
            "MODULE": self.module,
            "ENV_PREFIX": self.env_prefix,
            "OPS_PORT": str(self.ops_port),
        }
        if self.api_port is not None:
            args["API_PORT"] = str(self.api_port)
        if self.dev_only:
            args["DEV_ONLY"] = "true"
        return args


# Ports are the settings classes' defaults (services/*/src/*/settings.py).
SERVICES = (
    Service("upload", "upload", "UPLOAD", 8000, 9001),
    Service("converter", "converter", "CONVERTER", None, 9002, target="converter"),
    Service("boleto-sync", "boleto_sync", "BOLETO_SYNC", 8002, 9003),
    Service("notifier", "notifier", "NOTIFIER", 8001, 9000),
    Service("inter-simulator", "inter_simulator", "INTER_SIM", 8090, 8090, dev_only=True),
)
# The dev overlay's single-node backing services: name -> (Dockerfile, PyPI package in uv.lock)
DEV_IMAGES = {
    "dev-rabbitmq": ("rabbitmq.Dockerfile", None),
    "dev-mongodb": ("mongodb.Dockerfile", "secantusdb"),
    "dev-s3": ("s3.Dockerfile", "moto"),
}


def say(message: str) -> None:
    print(f"images: {message}", flush=True)


def run(*command: str | Path, **options: object) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    return subprocess.run(
        [str(part) for part in command], check=True, text=True, env=env, **options
    )  # type: ignore[call-overload]


@contextmanager
def step(title: str) -> Iterator[None]:
    started = time.monotonic()
    say(f"{title}...")
    yield
    say(f"{title}: {time.monotonic() - started:.0f} s")


def ensure_tools() -> None:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    say(f"installing {' '.join(missing)} with apt-get")
    apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt)
    # podman's recommends bring what it needs to run containers (conmon, netavark/CNI,
    # catatonit); uidmap and fuse-overlayfs, for rootless use, are not needed as root.
    subprocess.run(["apt-get", "install", "-y", "-qq", *TOOLS], check=True, env=apt)


def has_image(name: str) -> bool:
    env = {**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)}
    probe = subprocess.run(["podman", "image", "exists", name], env=env, check=False)
    return probe.returncode == 0


def apt_sources() -> list[str]:
    """This machine's Debian sources (deb822 ``debian.sources``) as one-line entries."""
    sources = Path("/etc/apt/sources.list.d/debian.sources")
    if not sources.exists():
        return [
            "deb http://deb.debian.org/debian bookworm main",
            "deb http://deb.debian.org/debian bookworm-updates main",
            "deb http://deb.debian.org/debian-security bookworm-security main",
        ]
    entries = []
    for stanza in sources.read_text().split("\n\n"):
        fields = dict(re.findall(r"^(\w[\w-]*):\s*(.+)$", stanza, re.MULTILINE))
        if fields.get("Types", "").split()[:1] != ["deb"]:
            continue
        for uri in fields.get("URIs", "").split():
            for suite in fields.get("Suites", "").split():
                entries.append(f"deb {uri} {suite} {fields.get('Components', 'main')}")
    return entries


def make_debian() -> None:
    options = [f"--dpkgopt=path-exclude={path}/*" for path in DPKG_EXCLUDES]
    options.append("--dpkgopt=path-include=/usr/share/doc/*/copyright")
    with tempfile.TemporaryDirectory() as work:
        rootfs = Path(work) / "rootfs.tar"
        # merged-usr hook: /usr merged as Debian's images are, without the usrmerge package
        # (which would pull in perl)
        run(
            "mmdebstrap",
            "--variant=minbase",
            "--quiet",
            '--aptopt=APT::Install-Recommends "false"',
            f"--customize-hook=printf '%s' '{APT_CLEAN}' > \"$1/etc/apt/apt.conf.d/docker-clean\"",
            '--customize-hook=rm -f "$1"/var/cache/apt/*.bin',
            "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr",
            *options,
            "bookworm",
            rootfs,
            *apt_sources(),
        )
        run(
            "podman",
            "import",
            "--change",
            f"ENV PATH={DEFAULT_PATH}",
            "--change",
            'CMD ["bash"]',
            rootfs,
            DEBIAN_IMAGE,
            stdout=subprocess.DEVNULL,
        )


def build(dockerfile: Path, image: str, context: Path, *extra: str) -> None:
    run(
        "podman",
        "build",
        "--pull=never",
        "--format=docker",
        "--file",
        dockerfile,
        "--tag",
        image,
        *extra,
        context,
    )


def make_python() -> None:
    build(
        DEPLOY / "base/python.Containerfile",
        PYTHON_IMAGE,
        DEPLOY / "base",
        "--build-arg",
        f"DEBIAN_IMAGE={DEBIAN_IMAGE}",
    )


def make_build_base() -> None:
    with tempfile.TemporaryDirectory() as work:
        shutil.copy(HOST_CA_BUNDLE, Path(work) / "host-ca-certificates.crt")
        build(
            DEPLOY / "base/build-ca.Containerfile",
            BUILD_IMAGE,
            Path(work),
            "--build-arg",
            f"PYTHON_IMAGE={PYTHON_IMAGE}",
        )


def uv_image() -> str:
    """The uv image deploy/Dockerfile names, e.g. ``ghcr.io/astral-sh/uv:0.13.9``."""
    found = re.search(r"^ARG UV_IMAGE=(\S+)$", (DEPLOY / "Dockerfile").read_text(), re.MULTILINE)
    if found is None:
        sys.exit("images: deploy/Dockerfile has no ARG UV_IMAGE=<image>:<version>")
    return found.group(1)


def make_uv(image: str) -> None:
    version = image.rsplit(":", 1)[1]
    with tempfile.TemporaryDirectory() as work:
        wheel = download_wheel("uv", version, Path(work))
        with zipfile.ZipFile(wheel) as archive:
            for member in archive.namelist():
                if re.fullmatch(r"uv-[^/]+\.data/scripts/uvx?", member):
                    target = Path(work) / Path(member).name
                    target.write_bytes(archive.read(member))
                    target.chmod(0o755)
        build(DEPLOY / "base/uv.Containerfile", image, Path(work))


def download_wheel(package: str, version: str, into: Path) -> Path:
    """The manylinux wheel of ``package==version`` for this machine, its digest checked."""
    context = ssl.create_default_context(
        cafile=str(HOST_CA_BUNDLE) if HOST_CA_BUNDLE.exists() else None
    )
    # PyPI's JSON simple API (PEP 691): every file of the project, with its sha256
    request = urllib.request.Request(
        f"https://pypi.org/simple/{package}/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
    )
    with urllib.request.urlopen(request, context=context, timeout=60) as answer:
        files = json.load(answer)["files"]
    name = re.compile(rf"{package}-{re.escape(version)}-.*manylinux.*_{platform.machine()}\.whl")
    wheel = next(f for f in files if name.fullmatch(f["filename"]))
    target = into / wheel["filename"]
    with urllib.request.urlopen(wheel["url"], context=context, timeout=300) as answer:
        target.write_bytes(answer.read())
    if hashlib.sha256(target.read_bytes()).hexdigest() != wheel["hashes"]["sha256"]:
        sys.exit(f"images: {wheel['filename']} does not match PyPI's sha256")
    return target


def build_service(service: Service, uv: str) -> None:
    arguments = {
        **service.build_args(),
        "PYTHON_IMAGE": PYTHON_IMAGE,
        "BUILD_IMAGE": BUILD_IMAGE,
        "UV_IMAGE": uv,
    }
    flags = [f"--build-arg={key}={value}" for key, value in arguments.items()]
    build(DEPLOY / "Dockerfile", service.image, ROOT, f"--target={service.target}", *flags)


def locked_version(package: str) -> str:
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    return next(p["version"] for p in lock["package"] if p["name"] == package)


def build_dev_image(name: str, dockerfile: str, package: str | None, uv: str) -> None:
    arguments = {
        "DEBIAN_IMAGE": DEBIAN_IMAGE,
        "PYTHON_IMAGE": PYTHON_IMAGE,
        "BUILD_IMAGE": BUILD_IMAGE,
        "UV_IMAGE": uv,
    }
    if package is not None:
        arguments["VERSION"] = locked_version(package)
    flags = [f"--build-arg={key}={value}" for key, value in arguments.items()]
    build(DEPLOY / "dev" / dockerfile, f"schedule-platform/{name}:{TAG}", DEPLOY / "dev", *flags)


def size_mb(image: str) -> float:
    output = run(
        "podman", "image", "inspect", "--format", "{{.Size}}", image, capture_output=True
    ).stdout
    return int(output.strip()) / 1e6


def main() -> None:
    if os.geteuid() != 0:
        sys.exit("images: run as root (podman, mmdebstrap and apt-get as this machine's root)")
    started = time.monotonic()
    ensure_tools()
    uv = uv_image()
    bases = [
        (DEBIAN_IMAGE, make_debian),
        (PYTHON_IMAGE, make_python),
        (BUILD_IMAGE, make_build_base),
        (uv, lambda: make_uv(uv)),
    ]
    for image, make in bases:
        if not has_image(image):
            with step(f"base image {image}"):
                make()
    for service in SERVICES:
        with step(f"image {service.image}"):
            build_service(service, uv)
    for name, (dockerfile, package) in DEV_IMAGES.items():
        with step(f"image schedule-platform/{name}:{TAG} (dev only)"):
            build_dev_image(name, dockerfile, package, uv)
    images = [s.image for s in SERVICES] + [f"schedule-platform/{n}:{TAG}" for n in DEV_IMAGES]
    for image in images:
        say(f"{image:45} {size_mb(image):6.0f} MB")
    say(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
