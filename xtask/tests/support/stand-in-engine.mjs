#!/usr/bin/env node
// A stand-in for Prisma's schema engine binary, which cannot be downloaded on
// these machines. The real Prisma CLI runs it through
// PRISMA_SCHEMA_ENGINE_BINARY; everything around it (the CLI, the xtask, the
// database) is real. It speaks the CLI's engine protocol as observed with
// Prisma 7.10.1 (see ../shared/fixtures/prisma-7.10.1/README.md) and answers
// from a script:
//
//   STANDIN_PLAN   comma-separated outcomes, one per migrate attempt (the last
//                  repeats): ok | P1017 | P1001 | P1000 | rpc-P1017 |
//                  rpc-P1002 | rpc-P3014 | hang | probe (really connect to the
//                  datasource and send PostgreSQL's TLS request: a closed
//                  connection is P1017, a refused one P1001, as the real
//                  engine reports them) | leak (P1001 with the whole URL,
//                  password included, in the message, as a careless library
//                  might print it)
//   STANDIN_STATE  a file counting attempts (one per can-connect-to-database)
//   STANDIN_LOG    a file receiving one JSON line per call: the engine's argv
//                  and, for each ancestor process, its command line and the
//                  DATABASE_URL in its environment (Linux /proc)
import fs from "node:fs";
import net from "node:net";
import readline from "node:readline";
import { ancestors } from "./ancestors.mjs";

const argv = process.argv.slice(2);
const plan = (process.env.STANDIN_PLAN || "ok").split(",");
const statePath = process.env.STANDIN_STATE;
const logPath = process.env.STANDIN_LOG;

function datasourceUrl() {
  const i = argv.indexOf("--datasource");
  if (i < 0) return null;
  try {
    return new URL(JSON.parse(argv[i + 1]).url);
  } catch {
    return null;
  }
}

function log(entry) {
  if (logPath) fs.appendFileSync(logPath, JSON.stringify(entry) + "\n");
}

function attemptOutcome(bump) {
  let n = 0;
  if (statePath) {
    try {
      n = Number(fs.readFileSync(statePath, "utf8")) || 0;
    } catch {}
    if (bump) {
      n += 1;
      fs.writeFileSync(statePath, String(n));
    }
  }
  const index = Math.max(0, Math.min(plan.length - 1, n - 1));
  return plan[index];
}

const url = datasourceUrl();
const host = url ? url.hostname : "localhost";
const port = url ? url.port || "5432" : "5432";
const user = url ? decodeURIComponent(url.username) : "postgres";

const MESSAGES = {
  P1017: "Server has closed the connection.",
  P1001: `Can't reach database server at \`${host}:${port}\`\n\nPlease make sure your database server is running at \`${host}:${port}\`.`,
  P1000: `Authentication failed against database server at \`${host}\`, the provided database credentials for \`${user}\` are not valid.\n\nPlease make sure to provide valid database credentials for the database server at \`${host}\`.`,
  P1002: `The database server at \`${host}:${port}\` was reached but timed out.\n\nPlease try again.\n\nPlease make sure your database server is running at \`${host}:${port}\`.\n\nContext: Timed out trying to acquire a postgres advisory lock (SELECT pg_advisory_lock(72707369)). Elapsed: 10000ms. See https://pris.ly/d/migrate-advisory-locking for details.\n`,
  P3014: "Prisma Migrate could not create the shadow database. Please make sure the database user has permission to create databases. Read more about the shadow database (and workarounds) at https://pris.ly/d/migrate-shadow\n\nOriginal error: \nERROR: permission denied to create database\n   0: schema_core::state::DevDiagnostic\n             at schema-engine/core/src/state.rs:276\n",
};

if (argv.includes("--version")) {
  process.stdout.write("schema-engine-cli d1b3f377ca835d73fd50954a5e22128b9ebdd6b8\n");
  process.exit(0);
}

if (argv.includes("cli") && argv.includes("can-connect-to-database")) {
  const outcome = attemptOutcome(true);
  log({ call: "can-connect-to-database", outcome, pid: process.pid, argv, ancestors: ancestors() });
  const failWith = (code, message) => {
    const line = { timestamp: new Date().toISOString(), level: "ERROR", fields: { error_code: code, message }, target: "schema_engine::logger" };
    process.stderr.write("Starting schema engine CLI\n" + JSON.stringify(line) + "\n");
    process.exit(1);
  };
  if (outcome === "hang") {
    setInterval(() => {}, 1000);
  } else if (outcome === "probe") {
    let answered = false;
    const sock = net.connect({ host, port: Number(port) }, () => sock.write(Buffer.from([0, 0, 0, 8, 4, 210, 22, 47])));
    sock.setTimeout(5000, () => failWith("P1017", MESSAGES.P1017));
    sock.on("data", () => {
      answered = true;
      sock.destroy();
      process.exit(0);
    });
    sock.on("error", (e) => failWith(e.code === "ECONNREFUSED" ? "P1001" : "P1017", e.code === "ECONNREFUSED" ? MESSAGES.P1001 : MESSAGES.P1017));
    sock.on("close", () => {
      if (!answered) failWith("P1017", MESSAGES.P1017);
    });
  } else if (outcome === "leak") {
    const i = argv.indexOf("--datasource");
    const u = JSON.parse(argv[i + 1]).url;
    failWith("P1001", `Can't reach database server at ${u} (user ${user}, password ${decodeURIComponent(new URL(u).password)})`);
  } else if (MESSAGES[outcome]) {
    failWith(outcome, MESSAGES[outcome]);
  } else {
    process.exit(0);
  }
} else {
  // JSON-RPC 2.0 over stdin/stdout, one object a line.
  const outcome = attemptOutcome(false);
  log({ call: "rpc", outcome, argv });
  const rl = readline.createInterface({ input: process.stdin });
  let created = null;
  let dev = false;
  rl.on("line", (line) => {
    if (!line.trim()) return;
    const req = JSON.parse(line);
    log({ call: "request", method: req.method });
    const reply = (result) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: req.id, result }) + "\n");
    if (outcome.startsWith("rpc-")) {
      const code = outcome.slice(4);
      const error = { code: 4466, message: "An error happened. Check the data field for details.", data: { is_panic: false, message: MESSAGES[code], error_code: code, meta: {} } };
      process.stdout.write(JSON.stringify({ jsonrpc: "2.0", id: req.id, error }) + "\n");
      return;
    }
    const params = req.params || {};
    switch (req.method) {
      case "devDiagnostic":
        dev = true;
        return reply({ action: { tag: "createMigration" } });
      case "evaluateDataLoss":
        return reply({ migrationSteps: 1, warnings: [], unexecutableSteps: [] });
      case "createMigration": {
        const stamp = new Date().toISOString().replace(/[-:T]/g, "").slice(0, 14);
        created = `${stamp}_${params.migrationName}`;
        return reply({ generatedMigrationName: created, migrationScript: "-- CreateTable\nCREATE TABLE \"StandIn\" (\"id\" TEXT NOT NULL);\n", extension: "sql" });
      }
      case "applyMigrations": {
        log({ call: "applyMigrations", params: JSON.stringify(params).slice(0, 400) });
        const list = (params.migrationsList && params.migrationsList.migrationDirectories) || [];
        const names = list.map((d) => d.migrationName || d.path || String(d)).filter(Boolean);
        // `migrate deploy` applies what is committed; `migrate dev` applies
        // what it just created (its first call comes before creation).
        // The stand-in remembers what it applied, as a database would.
        const appliedPath = statePath ? statePath + ".applied" : null;
        let done = [];
        try {
          done = JSON.parse(fs.readFileSync(appliedPath, "utf8"));
        } catch {}
        const fresh = created ? [created] : dev ? [] : names.filter((n) => !done.includes(n));
        if (appliedPath) fs.writeFileSync(appliedPath, JSON.stringify(done.concat(fresh)));
        return reply({ appliedMigrationNames: fresh });
      }
      default:
        log({ call: "unknown-method", method: req.method });
        return reply({});
    }
  });
}
