// Prisma CLI configuration (Prisma 7 reads the connection URL from here, not
// from schema.prisma). The service itself builds its own pg pool: see plugins/db.ts.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://root@127.0.0.1:5432/test' }
})
