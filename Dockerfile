# syntax=docker/dockerfile:1
# Multi-stage: build with dev dependencies, ship production dependencies only, run as a non-root user.
# The container runs exactly what `npm start` runs (node dist/src/main.js), normally against PostgreSQL given by
# DATABASE_URL (see compose.yaml and deploy/kubernetes/). Without DATABASE_URL it falls back to the embedded
# PostgreSQL in /data. The CLI is `grantry` on PATH (`docker run --rm grantry grantry migrate`), needing neither the
# sources nor a dev dependency. test/image-layout.e2e-spec.ts builds this final stage's layout from these COPY lines
# and runs every CLI command and the server in it.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ormconfig.ts ./
COPY src ./src
COPY migrations ./migrations
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    PORT=9000 \
    HOST=0.0.0.0 \
    DATA_DIR=/data
WORKDIR /app
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
COPY --chown=root:root package.json ./
COPY --chown=root:root bin ./bin
RUN ln -s /app/bin/grantry.js /usr/local/bin/grantry \
 && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 9000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||9000)+'/-/health/live/').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/src/main.js"]
