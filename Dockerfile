# syntax=docker/dockerfile:1
# Container image for sip-response-exporter.
#
#   docker build -t sip-response-exporter .
#   docker run --rm -p 9468:9468 -p 9060:9060/udp -p 9060:9060/tcp sip-response-exporter
#
# Configuration: flags after the image name (--hep.listen-address=... ), environment variables
# (SIP_EXPORTER_SECTION_KEY) or a YAML file mounted at /etc/sip-response-exporter/config.yml.
# Precedence is flag > environment > file > default; the listen addresses below are set by
# environment, so change them by environment or flag, not in the file. See docs/deployment.md.

# ---- build: all dependencies, compile TypeScript, then drop the dev dependencies -----------------
FROM docker.io/library/node:24-bookworm-slim AS build
WORKDIR /src
# Dependencies first: this layer is reused as long as package*.json do not change.
# --ignore-scripts: lifecycle scripts are not needed here (the build is the RUN below), and the `node`
# devDependency would download a second Node binary we do not need here.
COPY package.json package-lock.json ./
ENV NPM_CONFIG_UPDATE_NOTIFIER=false
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=warn
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# tsc is run by the image's node directly (node_modules/.bin/node is the devDependency's stub,
# left without its binary by --ignore-scripts).
RUN node node_modules/typescript/bin/tsc -p tsconfig.build.json \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=warn \
 && mkdir -m 0750 /state

# ---- runtime: Node 24, production dependencies, compiled code, catalogue -------------------------
FROM docker.io/library/node:24-bookworm-slim
# In a container the inputs must be reachable from other containers, so they listen on all
# interfaces (outside a container they default to 127.0.0.1). The web server already does (:9468).
ENV NODE_ENV=production \
    SIP_EXPORTER_HEP_LISTEN_ADDRESS=0.0.0.0:9060 \
    SIP_EXPORTER_SYSLOG_LISTEN_ADDRESS=0.0.0.0:5514 \
    SIP_EXPORTER_CONFIG=/etc/sip-response-exporter/config.yml

WORKDIR /app
# Code and data belong to root and are read-only for the user the exporter runs as.
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY data ./data
COPY deploy/container/healthcheck.mjs ./healthcheck.mjs
COPY deploy/container/config.yml /etc/sip-response-exporter/config.yml
# A writable place for state, e.g. --log.position-file=/var/lib/sip-response-exporter/positions.json
# (mount a volume here to keep read positions across container restarts). Made by COPY, not RUN: this
# stage runs nothing, so it builds the same for any platform.
COPY --from=build --chown=node:node /state /var/lib/sip-response-exporter

# The official image's unprivileged user (uid 1000). Ports above 1024 need no capabilities.
USER node
# 9468 HTTP (/metrics, /-/healthy, /-/ready), 9060 HEP, 5514 syslog; HEP and syslog on UDP and TCP.
EXPOSE 9468/tcp 9060/udp 9060/tcp 5514/udp 5514/tcp

# No curl in a slim image: Node's fetch asks /-/healthy on the web address the exporter resolves
# from the same environment and config file.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["node", "/app/healthcheck.mjs"]

# Node runs as PID 1: the exporter handles SIGTERM/SIGINT (graceful stop within
# general.shutdown-timeout) and SIGHUP (reload); it starts no child processes to reap.
# Its own logs are JSON lines on stdout.
STOPSIGNAL SIGTERM

# Labels last: VERSION/REVISION/CREATED change on every build and would otherwise invalidate the
# layer cache of every step after them.
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="sip-response-exporter" \
      org.opencontainers.image.description="Prometheus and OpenTelemetry exporter for SIP response codes from proxy logs, HEP and syslog" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.documentation="docs/deployment.md" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
ENTRYPOINT ["node", "/app/bin/sip-response-exporter.js"]
CMD []
