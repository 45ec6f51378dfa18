// Reads prisma.config.ts the way the Prisma CLI reads it: with the
// project's own pinned prisma package's @prisma/config, from the project
// directory. Prints one JSON line: the config file's path and the URLs
// its datasource gives the migrate commands, or why it could not be read.
// Run by `prisma/config.rs` as `node -e <this> <project dir>`.
const path = require("path");
const dir = process.argv[1];
const done = (o) => process.stdout.write("\n" + JSON.stringify(o) + "\n");
(async () => {
  let prisma;
  try {
    prisma = path.dirname(require.resolve("prisma/package.json", { paths: [dir] }));
  } catch {
    return done({ error: "NoPrisma", message: "the prisma package is not installed" });
  }
  let config;
  try {
    config = require(require.resolve("@prisma/config", { paths: [prisma] }));
  } catch {
    return done({ error: "NoPrisma", message: "@prisma/config is not installed" });
  }
  const r = await config.loadConfigFromFile({ configRoot: dir });
  if (r.error) {
    const e = r.error.error;
    return done({
      error: r.error._tag,
      path: r.resolvedPath || null,
      name: (e && e.name) || null,
      message: String((e && e.message) || ""),
    });
  }
  const ds = (r.config && r.config.datasource) || {};
  done({ path: r.resolvedPath || null, url: ds.url || null, shadow: ds.shadowDatabaseUrl || null });
})().catch((e) => done({ error: "UnknownError", message: String((e && e.message) || e) }));
