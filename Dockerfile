# The IoT Bridge API (runtime/bridge) as a container image:
#   docker build -t ghcr.io/cdm-platform/bridge:<package.json version> .
# (`cdm:bridgeImageBuild` makes `pulumi up` build and push it.) The runtime is compiled with
# tsconfig.runtime.json, which follows the runtime's imports into components/; the image holds the
# JavaScript and the production dependencies and runs as uid/gid 10001 on a read-only root
# filesystem (the service writes nowhere but /tmp). The base is pinned to an exact Node 20 release.
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

FROM ${NODE_IMAGE}
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
USER 10001:10001
# API (HTTPS) and management (health, readiness, metrics over HTTP).
EXPOSE 8443 9464
CMD ["node", "dist/runtime/bridge/main.js"]
