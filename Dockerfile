# One image for every service of compose.yaml: `edge serve` and `origin-stub`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# README.md* : pyproject names the README; the glob keeps the build working without one.
COPY pyproject.toml README.md* ./
COPY edge ./edge
COPY origin_stub ./origin_stub
RUN pip install . \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin edge \
 && mkdir -p /var/cache/edge \
 && chown edge /var/cache/edge

# A named volume mounted here starts with this directory's owner: the non-root user.
VOLUME ["/var/cache/edge"]
USER edge
EXPOSE 8080 8090
CMD ["edge", "serve", "--config", "/etc/edge/edge.yaml"]
