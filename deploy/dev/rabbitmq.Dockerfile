# syntax=docker/dockerfile:1
# DEV ONLY: a single-node RabbitMQ from Debian's rabbitmq-server package, for the dev overlay
# (k8s/overlays/dev) on machines without a registry. Production runs the RabbitMQ Cluster
# Operator's RabbitmqCluster instead. AMQP on 5672; no management plugin; no persistence
# beyond the container's /var/lib/rabbitmq.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
LABEL io.schedule-platform.dev-only="true" \
      org.opencontainers.image.description="DEV ONLY: single-node RabbitMQ (Debian package)"
RUN apt-get update \
 && apt-get install -y --no-install-recommends rabbitmq-server \
 && rm -rf /var/lib/apt/lists/*
COPY rabbitmq.conf /etc/rabbitmq/rabbitmq.conf
# A node name that does not change with the pod's host name, so the data directory matches.
# Logs to the console; the few files the broker still writes (the upgrade log, the Erlang
# cookie, the database) all go under /var/lib/rabbitmq: with a read-only root file system,
# mount a writable volume there.
ENV RABBITMQ_NODENAME=rabbit@localhost \
    RABBITMQ_LOGS=- \
    RABBITMQ_LOG_BASE=/var/lib/rabbitmq/log \
    HOME=/var/lib/rabbitmq
USER rabbitmq
WORKDIR /var/lib/rabbitmq
EXPOSE 5672
HEALTHCHECK --interval=30s --timeout=20s --start-period=60s --retries=3 \
    CMD ["rabbitmq-diagnostics", "-q", "ping"]
# the broker itself, not Debian's wrapper (which switches user through su)
CMD ["/usr/lib/rabbitmq/bin/rabbitmq-server"]
