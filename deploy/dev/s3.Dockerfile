# syntax=docker/dockerfile:1
# DEV ONLY: moto's S3 server (moto[server] from PyPI), the dev overlay's object storage, in
# memory: everything is lost when the container stops. Production uses a real S3 service.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG BUILD_IMAGE=${PYTHON_IMAGE}
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${BUILD_IMAGE} AS build
# the version in uv.lock (scripts/images.py passes it)
ARG VERSION=5.2.5
COPY --from=uv /uv /bin/uv
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1
RUN uv venv --python python3 /opt/venv \
 && uv pip install --no-cache --python /opt/venv/bin/python "moto[server]==${VERSION}"

FROM ${PYTHON_IMAGE}
LABEL io.schedule-platform.dev-only="true" \
      org.opencontainers.image.description="DEV ONLY: moto's S3 server"
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin app
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 9000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 9000), 3).close()"]
CMD ["/opt/venv/bin/moto_server", "-H", "0.0.0.0", "-p", "9000"]
