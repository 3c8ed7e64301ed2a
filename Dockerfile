# syntax=docker/dockerfile:1
# The flask-app image: gunicorn + the service, non-root, read-only-root ready.
# Base: python:3.11-slim-bookworm (multi-arch index digest; dependabot keeps it current).
# BASE can name another Python 3.11 base: the local stack builds one from Debian's
# packages (harness/stack/image.py) because it cannot pull images.
ARG BASE=python:3.11-slim-bookworm@sha256:b18992999dbe963a45a8a4da40ac2b1975be1a776d939d098c647482bcad5cba

# checkov:skip=CKV_DOCKER_7: the base is BASE, whose default is pinned by tag and digest (above)
FROM ${BASE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
COPY requirements/runtime.txt /tmp/runtime.txt
# Exact pins from requirements/runtime.txt; nothing else goes into the runtime venv.
RUN python -m venv /opt/venv \
 && /opt/venv/bin/pip install --no-compile -r /tmp/runtime.txt \
 && /opt/venv/bin/pip uninstall --yes pip setuptools \
 && find /opt/venv -name '__pycache__' -type d -prune -exec rm -rf {} +

FROM ${BASE} AS runtime
ARG VERSION=0.0.0-dev
ARG GIT_SHA=unknown
ARG BUILD_DATE=unknown
ARG IMAGE_TAG=unknown
LABEL org.opencontainers.image.title="flask-app" \
      org.opencontainers.image.description="Flask service deployed by flask-gitops" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${GIT_SHA}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app/src \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    APP_VERSION=${VERSION} \
    GIT_SHA=${GIT_SHA} \
    BUILD_DATE=${BUILD_DATE} \
    IMAGE_TAG=${IMAGE_TAG} \
    PORT=5000 \
    PROBE_PORT=5001 \
    TMPDIR=/tmp
COPY --from=build /opt/venv /opt/venv
WORKDIR /app
COPY gunicorn.conf.py /app/gunicorn.conf.py
COPY src/flask_app /app/src/flask_app
# Numeric, non-root, no login shell, no home: matches runAsUser in the Deployment.
USER 10001:10001
# Traffic, and the kubelet's probes (served by threads of their own).
EXPOSE 5000 5001
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:5001/livez', timeout=2).status != 200)"]
# The same command as `make run`.
CMD ["gunicorn", "--config", "gunicorn.conf.py", "flask_app.wsgi:app"]
