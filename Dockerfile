# syntax=docker/dockerfile:1
# One image for the five processes: the command picks the service
#   docker run IMAGE python -m services.identity            (serve, the default command)
#   docker run IMAGE python -m services.identity migrate    (one-shot migration)
# All five share one dependency set and the `common` package, so one image means one build,
# one scan and one tag to roll out; a per-service image would only drop a few kilobytes of
# another service's code. See docs/operations.md.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve and install the dependencies into a virtualenv --------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY pyproject.toml ./
COPY common ./common
COPY gateway ./gateway
COPY services ./services
# Install the project (which pulls its runtime dependencies, all shipped as wheels), then drop
# the installed copy of the project itself: the image runs the source tree in /app, so that
# migrations, templates and static files are read exactly as they are in the repository.
RUN pip install . \
 && pip uninstall --yes moncompte \
 && python -m compileall -q /src/common /src/gateway /src/services

# ---- runtime: the virtualenv and the source, nothing else ----------------------------------
FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="moncompte" \
      org.opencontainers.image.description="moncompte: gateway, identity, tenancy, documents, notifier"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ENVIRONMENT=production \
    LOG_JSON=true \
    GATEWAY_HOST=0.0.0.0 \
    IDENTITY_HOST=0.0.0.0 \
    TENANCY_HOST=0.0.0.0 \
    DOCUMENTS_HOST=0.0.0.0 \
    NOTIFIER_HOST=0.0.0.0 \
    DOCUMENTS_STORAGE_DIR=/var/lib/moncompte/blobs
# A fixed numeric uid/gid so that Kubernetes' runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --system --gid 10001 moncompte \
 && useradd --system --uid 10001 --gid moncompte --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin moncompte \
 && mkdir -p /var/lib/moncompte/blobs \
 && chown -R 10001:10001 /var/lib/moncompte
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY --from=build /src/common ./common
COPY --from=build /src/gateway ./gateway
COPY --from=build /src/services ./services
COPY deploy/docker/healthcheck.py /usr/local/bin/moncompte-healthcheck
USER 10001:10001
EXPOSE 8080 8081 8082 8083 8084
# Asks the process running as PID 1 (whichever service it is) on its own port.
HEALTHCHECK --interval=10s --timeout=4s --start-period=20s --retries=3 \
  CMD ["python", "/usr/local/bin/moncompte-healthcheck"]
# aiohttp stops on SIGTERM: in-flight requests finish within SHUTDOWN_TIMEOUT_SECONDS.
STOPSIGNAL SIGTERM
CMD ["python", "-m", "gateway"]
