# syntax=docker/dockerfile:1
# DEV ONLY: SecantusDB, the MongoDB-wire server from PyPI that `make run` and the tests use,
# as the dev overlay's single-node "MongoDB" (production uses a MongoDB replica set through
# its operator). Listens on 0.0.0.0:27017; data in /data (mount a volume there to keep it).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm
ARG BUILD_IMAGE=${PYTHON_IMAGE}
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9

FROM ${UV_IMAGE} AS uv

FROM ${BUILD_IMAGE} AS build
# the version in uv.lock (scripts/images.py passes it)
ARG VERSION=0.7.0b3
COPY --from=uv /uv /bin/uv
ENV UV_PYTHON_DOWNLOADS=never UV_COMPILE_BYTECODE=1
RUN uv venv --python python3 /opt/venv \
 && uv pip install --no-cache --python /opt/venv/bin/python "SecantusDB==${VERSION}"

FROM ${PYTHON_IMAGE}
LABEL io.schedule-platform.dev-only="true" \
      org.opencontainers.image.description="DEV ONLY: SecantusDB, a MongoDB-wire server"
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin app \
 && mkdir /data && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
USER 10001:10001
EXPOSE 27017
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import socket; socket.create_connection(('127.0.0.1', 27017), 3).close()"]
CMD ["/opt/venv/bin/secantusd-py", "--host", "0.0.0.0", "--port", "27017", "--storage-path", "/data"]
