# The runtime services as container images, one target each (the last, `bridge`, is the default):
#   docker build --target bridge -t ghcr.io/cdm-platform/bridge:<package.json version> .
#     the IoT Bridge API (runtime/bridge)
#   docker build --target vpn -t ghcr.io/cdm-platform/vpn:<package.json version> .
#     the tenant WireGuard server (runtime/wireguard-server/start.sh) and its peer-sync agent
#     (runtime/peer-agent), with wireguard-tools, wireguard-go, iproute2 and iptables
# (`cdm:runtimeImageBuild` makes `pulumi up` build and push them.) The runtime is compiled with
# tsconfig.runtime.json, which follows the runtime's imports into components/; the images hold the
# JavaScript and the production dependencies. The bridge runs as uid/gid 10001 on a read-only
# root filesystem (it writes nowhere but /tmp); the VPN image's containers run as root with
# NET_ADMIN only (components/wireguard/server.ts says why). The base is pinned to an exact Node 20
# release.
ARG NODE_IMAGE=node:20.20.2-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
# No install scripts: neither the compiler nor the runtime's dependencies need one.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.runtime.json ./
COPY runtime/ runtime/
COPY components/ components/
RUN npx tsc -p tsconfig.runtime.json \
    && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
# Stack traces point into the TypeScript sources (tsconfig.runtime.json emits source maps).
ENV NODE_ENV=production NODE_OPTIONS=--enable-source-maps
# npm, npx, corepack and yarn are not needed to run the service.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
        /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack \
        /usr/local/bin/yarn /usr/local/bin/yarnpkg /opt/yarn-*
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/

FROM runtime AS vpn
RUN apt-get update \
    && apt-get install -y --no-install-recommends wireguard-tools wireguard-go iproute2 iptables \
    && rm -rf /var/lib/apt/lists/*
COPY runtime/wireguard-server/start.sh /usr/local/bin/wireguard-server
# The peer-sync agent's container runs `node dist/runtime/peer-agent/main.js` instead.
CMD ["wireguard-server"]

FROM runtime AS bridge
USER 10001:10001
# API (HTTPS) and management (health, readiness, metrics over HTTP).
EXPOSE 8443 9464
CMD ["node", "dist/runtime/bridge/main.js"]
