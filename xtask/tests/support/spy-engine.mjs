#!/usr/bin/env node
// A spy in front of the real schema engine (the engine host,
// xtask/engine/schema-engine.mjs). The Prisma CLI starts it through
// PRISMA_SCHEMA_ENGINE_BINARY; it writes down what the stand-in engine
// writes down (its argv and, for each ancestor process, the command line and
// the DATABASE_URL in its environment, from Linux /proc), then runs the host
// with the same arguments on the same stdin, stdout and stderr, passes
// SIGTERM and SIGINT on, and exits as the host exits. The engine stays real.
//
//   SPY_ENGINE_LOG     a file receiving one JSON line per engine start:
//                      {call, pid, engine_pid, argv, ancestors}, where call is
//                      the cli command (can-connect-to-database, ...), "rpc"
//                      or "version"
//   SPY_ENGINE_TARGET  the engine to run (default: the engine host)
import fs from "node:fs";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { ancestors } from "./ancestors.mjs";

const argv = process.argv.slice(2);
const here = path.dirname(fileURLToPath(import.meta.url));
const target = process.env.SPY_ENGINE_TARGET || path.resolve(here, "../../engine/schema-engine.mjs");

const cli = argv.indexOf("cli");
const call = argv.includes("--version") ? "version" : cli >= 0 ? argv[cli + 1] : "rpc";

const child = spawn(target, argv, { stdio: "inherit" });
if (process.env.SPY_ENGINE_LOG) {
  const entry = { call, pid: process.pid, engine_pid: child.pid ?? null, argv, ancestors: ancestors() };
  fs.appendFileSync(process.env.SPY_ENGINE_LOG, JSON.stringify(entry) + "\n");
}
for (const signal of ["SIGTERM", "SIGINT"]) {
  process.on(signal, () => {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  });
}
child.on("error", (e) => {
  process.stderr.write(`spy-engine: cannot start ${target}: ${e.message}\n`);
  process.exit(1);
});
child.on("exit", (code, signal) => {
  if (signal) {
    // Die of the same signal, as the host did.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  } else {
    process.exit(code ?? 1);
  }
});
