# One image for every service of compose.yaml: `edge serve` and `origin-stub`.
#
#   docker build -t edge .
#   docker run -p 8080:8080 -p 8090:8090 -e EDGE_ORIGIN_URL=http://app:8000 \
#              -e EDGE_ADMIN_TOKEN="$(openssl rand -hex 24)" edge
#
# The default command runs with config/docker/edge.yaml (baked in as /etc/edge/edge.yaml):
# all interfaces, the origin from EDGE_ORIGIN_URL; it refuses to start without a real token.
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
COPY config/docker/edge.yaml /etc/edge/edge.yaml
RUN pip install . \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin edge \
 && mkdir -p /var/cache/edge /var/lib/edge \
 && chown edge /var/cache/edge /var/lib/edge

# A named volume mounted here starts with this directory's owner: the non-root user.
# /var/lib/edge holds a token shared by several nodes (compose.yaml's admin.token_file).
VOLUME ["/var/cache/edge"]
USER edge
EXPOSE 8080 8090
CMD ["edge", "serve", "--config", "/etc/edge/edge.yaml"]
