# syntax=docker/dockerfile:1
# Sluice gateway image: multi-stage, runs as the unprivileged `node` user.
# Default target: the ws transport on Debian 12. For the uWebSockets.js transport (docs/transports.md):
#   docker build --build-arg DEBIAN=trixie --build-arg UWS_REF=v20.52.0 --target runtime-uws -t sluice:uws .
ARG NODE_VERSION=24
ARG DEBIAN=bookworm

FROM node:${NODE_VERSION}-${DEBIAN}-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --ignore-scripts

# The official uWebSockets.js from GitHub (not on npm); its binaries need glibc >= 2.38 (DEBIAN=trixie).
# The check fails the build if the binary does not load on this base.
FROM build AS build-uws
ARG UWS_REF=v20.52.0
RUN apt-get update && apt-get install -y --no-install-recommends git ca-certificates && rm -rf /var/lib/apt/lists/* \
 && npm install --no-save --omit=dev --ignore-scripts "uNetworking/uWebSockets.js#${UWS_REF}" \
 && node -e "require('uWebSockets.js')"

FROM node:${NODE_VERSION}-${DEBIAN}-slim AS runtime
ENV NODE_ENV=production SLUICE_HOST=0.0.0.0 SLUICE_PORT=8080
WORKDIR /app
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.SLUICE_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
CMD ["node", "--max-semi-space-size=4", "dist/cli.js"]

FROM runtime AS runtime-uws
COPY --from=build-uws --chown=node:node /app/node_modules ./node_modules
ENV SLUICE_TRANSPORT=uws

# The default target (the last stage) is the ws image above, unchanged.
FROM runtime
