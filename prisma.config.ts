// Prisma 7 configuration. The CLI no longer reads .env files by itself, so for
// people who run `npx prisma` by hand this loads .env.local, then .env (as
// Next.js does); a variable already in the process environment wins over
// both. `cargo xtask migrate` passes DATABASE_URL through the environment.
import { config } from "dotenv";
import { defineConfig, env } from "prisma/config";

config({ path: ".env.local", quiet: true });
config({ path: ".env", quiet: true });

export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: {
    path: "prisma/migrations",
  },
  datasource: {
    url: env("DATABASE_URL"),
    ...(process.env.SHADOW_DATABASE_URL
      ? { shadowDatabaseUrl: process.env.SHADOW_DATABASE_URL }
      : {}),
  },
});
