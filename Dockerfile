# syntax=docker/dockerfile:1
# One image for the API, the workers and the one-shot migration job.
# The app is TypeScript run directly by Node 24's built-in type stripping
# (`node api/main.ts`): there is no build step and no dev dependency in the image.
FROM node:24-bookworm-slim

WORKDIR /app
ENV NODE_ENV=production

# Production dependencies only. The devDependencies (jest, swc, typescript, the
# `node` npm package, ...) are not needed: the base image already is Node 24.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force

# Application source. Owned by root and read-only for the runtime user.
COPY tsconfig.json ./
COPY shared ./shared
COPY api ./api
COPY workers ./workers
COPY dashboards ./dashboards
COPY scripts ./scripts

USER node

# 3000: HTTP API (PORT). 9464: workers' Prometheus metrics (METRICS_PORT).
EXPOSE 3000 9464

CMD ["node", "--max-semi-space-size=8", "--max-old-space-size=192", "api/main.ts"]
