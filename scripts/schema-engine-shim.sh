#!/bin/sh
# Stand-in for Prisma's schema-engine binary, which cannot be downloaded on
# machines without internet access. `prisma generate` only asks it for its
# version; migrations are applied by scripts/migrate.ts instead.
echo "schema-engine-cli 0.0.0-shim"
