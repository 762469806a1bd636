# syntax=docker/dockerfile:1
# slamon-afm: one image for API replicas, workers and the one-shot migration.

FROM node:24-bookworm-slim AS build
WORKDIR /app
ENV TURBO_TELEMETRY_DISABLED=1
COPY package.json package-lock.json turbo.json tsconfig.json ./
COPY packages/shared/package.json packages/shared/
COPY packages/api/package.json packages/api/
COPY packages/worker/package.json packages/worker/
COPY packages/cli/package.json packages/cli/
RUN npm ci --ignore-scripts
COPY packages packages
RUN npx turbo run build && npm prune --omit=dev

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production
# A small young generation and a bounded old one keep each process near 110 MB (BENCHMARKS.md, memory).
# AFM sizes its request-body budget and the worker's concurrent results from this heap limit, so the
# worst bursts the limits allow leave every role alive (SECURITY.md, memory: peak 214 MB resident for a
# replica, 119 MB for a worker); give each container at least 256 MB.
ENV NODE_OPTIONS="--max-semi-space-size=4 --max-old-space-size=96"
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/packages/shared/package.json packages/shared/
COPY --from=build /app/packages/shared/dist packages/shared/dist
COPY --from=build /app/packages/shared/lua packages/shared/lua
COPY --from=build /app/packages/api/package.json packages/api/
COPY --from=build /app/packages/api/dist packages/api/dist
COPY --from=build /app/packages/api/dashboard packages/api/dashboard
COPY --from=build /app/packages/worker/package.json packages/worker/
COPY --from=build /app/packages/worker/dist packages/worker/dist
COPY --from=build /app/packages/cli/package.json packages/cli/
COPY --from=build /app/packages/cli/dist packages/cli/dist
COPY --from=build /app/packages/cli/bin packages/cli/bin
USER node
EXPOSE 8080
ENTRYPOINT ["node", "/app/packages/cli/bin/slamon-afm.js"]
CMD ["start", "0.0.0.0", "8080"]
