# syntax=docker/dockerfile:1
# The help desk's image: one image, several processes (web, worker, scheduler); see
# compose.yaml and docs/operations.md. Runtime dependencies only, from the hashed lock.

FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY requirements/runtime.txt requirements/runtime.txt
RUN python -m venv /venv \
 && /venv/bin/pip install --require-hashes -r requirements/runtime.txt
COPY pyproject.toml wsgi.py babel.cfg ./
COPY helpdesk helpdesk
COPY templates templates
COPY migrations migrations
COPY translations translations
RUN /venv/bin/pip install --no-deps -e . \
 && /venv/bin/pybabel compile -d translations

FROM python:3.11-slim AS runtime
ENV PATH=/venv/bin:$PATH PYTHONUNBUFFERED=1 FLASK_APP=wsgi HELPDESK_ENV=production \
    HELPDESK_INSTANCE_PATH=/tmp/helpdesk PROMETHEUS_MULTIPROC_DIR=/tmp/metrics
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin helpdesk \
 && install -d -o helpdesk -g helpdesk /tmp/helpdesk /tmp/metrics
COPY --from=build /venv /venv
COPY --from=build --chown=root:root /app /app
WORKDIR /app
USER helpdesk
EXPOSE 8000
# Liveness only; readiness (/readyz) is for the load balancer.
HEALTHCHECK --interval=30s --timeout=3s CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["gunicorn", "-c", "python:helpdesk.gunicorn_conf", "--bind", "0.0.0.0:8000", "--workers", "4", "--access-logfile", "-", "wsgi:app"]
