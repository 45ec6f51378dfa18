#!/usr/bin/env node
// Prisma's schema engine, run from the WebAssembly build inside the pinned
// `prisma` package, behind the native engine's command line and stdio
// protocol. The unmodified Prisma CLI runs this file through
// PRISMA_SCHEMA_ENGINE_BINARY when `cargo xtask migrate --engine wasm` or
// `onboard` (and the tests) ask for it.
//
// It exists because the native engine is a binary the CLI downloads at first
// use, which offline machines, locked-down CI runners and TLS-inspecting
// proxies cannot do, while the same engine, built from the same commit,
// already sits in node_modules. The engine does its I/O through Prisma's
// driver adapter for node-postgres; connection.mjs makes that behave as the
// native engine's connection does, errors.mjs gives failures the native
// engine's P-codes. No URL or password is ever written to stdout or stderr.
//
//   schema-engine.mjs --version
//   schema-engine.mjs --datasource JSON cli can-connect-to-database|create-database|drop-database
//   schema-engine.mjs --datamodels PATH... --datasource JSON      (JSON-RPC 2.0 on stdin/stdout)
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline";
import { randomUUID } from "node:crypto";
import { PrismaPg } from "@prisma/adapter-pg";
import { bindMigrationAwareSqlAdapterFactory } from "@prisma/driver-adapter-utils";

import { Datasource, UrlError, driverErrors, open } from "./connection.mjs";
import { KnownError, fromDriver, lockTimeout, migrationFailed, shadowCreation } from "./errors.mjs";
import { loadEngine, wasmPath } from "./wasm.mjs";

function parseArgs(argv) {
  const out = { datamodels: [], datasource: null, version: false, cli: null };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--version" || a === "-V") out.version = true;
    else if (a === "--datamodels") out.datamodels.push(argv[++i]);
    else if (a === "--datasource") out.datasource = argv[++i];
    else if (a === "--enabled-preview-features" || a === "--extension-types") i++;
    else if (a === "cli") out.cli = argv[++i] || "";
  }
  return out;
}

async function version() {
  try {
    const glue = await loadEngine(wasmPath());
    process.stdout.write(`schema-engine-cli ${glue.version()}\n`);
  } catch (e) {
    logError(e.message);
    exit(1);
  }
}

/**
 * Ends the process once stdout and stderr are written: on macOS writes to
 * pipes are asynchronous, and a line the CLI parses must not be lost.
 */
function exit(code) {
  process.exitCode = code;
  let pending = 2;
  const done = () => --pending === 0 && process.exit(code);
  process.stdout.write("", done);
  process.stderr.write("", done);
}

/** The datasources the CLI passed; throws P1013 and friends in the native words. */
function datasources() {
  let parsed;
  try {
    parsed = JSON.parse(args.datasource || "{}");
  } catch {
    throw new KnownError("P1013", "The provided database string is invalid. --datasource is not JSON");
  }
  if (!parsed.url) throw new KnownError("P1012", "The datasource has no url: set `datasource.url` in prisma.config.ts");
  const read = (url) => {
    try {
      return new Datasource(url);
    } catch (e) {
      if (e instanceof UrlError) throw new KnownError("P1013", `The provided database string is invalid. ${e.message}`);
      throw e;
    }
  };
  const main = read(parsed.url);
  const shadow = parsed.shadowDatabaseUrl ? read(parsed.shadowDatabaseUrl) : null;
  // The native engine refuses this too; here it matters more: the shadow
  // database is emptied before use, and that would be the main database.
  if (shadow && (parsed.shadowDatabaseUrl === parsed.url || shadow.sameDatabase(main))) {
    throw new Error("The shadow database you configured appears to be the same as the main database. Please specify another shadow database (shadowDatabaseUrl in prisma.config.ts, SHADOW_DATABASE_URL).");
  }
  return { main, shadow };
}

// ---- cli mode: one short run, answered by exit status and stderr ----

async function cliMode(command) {
  let main;
  try {
    ({ main } = datasources());
  } catch (e) {
    fail(e);
  }
  process.stderr.write(`Starting schema engine CLI (WebAssembly engine, ${command})\n`);
  try {
    if (command === "can-connect-to-database") {
      const pool = await open(main, (c) => c.query("SELECT 1"));
      await pool.end();
    } else if (command === "create-database" || command === "drop-database") {
      const admin = await openAdmin(main);
      const verb = command === "create-database" ? "CREATE" : "DROP";
      await admin.query(`${verb} DATABASE ${ident(main.database)}`);
      await admin.end();
      logInfo(`Database '${main.database}' ${verb === "CREATE" ? "created" : "dropped"} successfully.`);
    } else {
      fail(new Error(`unknown cli command \`${command}\`: this engine knows can-connect-to-database, create-database and drop-database`));
    }
    exit(0);
  } catch (e) {
    if (e instanceof Exiting) throw e;
    fail(fromDriver(e, main) || new Error(redacted(e)));
  }
}

/** A connection to the server's maintenance database, as the native engine makes for CREATE/DROP DATABASE. */
async function openAdmin(ds) {
  try {
    return await open(ds.withDatabase("postgres"));
  } catch (e) {
    if (e.code === "3D000") return open(ds.withDatabase("template1"));
    throw e;
  }
}

// ---- RPC mode ----

/** What must be undone before this process ends. */
const cleanup = { pools: new Set(), shadowDbs: new Map(), mainDs: null };
let shadowFailure = null;

async function rpcMode() {
  // Whatever stops the engine from starting (a bad datasource, no .wasm, a
  // connection that fails: the engine connects as it starts, the native
  // one on the first request) is the first request's answer, with its
  // P-code. An early exit would reach the CLI, not yet waiting on a
  // request, as success.
  let main = null;
  let factory = null;
  let engine;
  try {
    const ds = datasources();
    main = ds.main;
    cleanup.mainDs = main;
    const glue = await loadEngine(wasmPath());
    await leftovers.dropOn(main);
    const datamodels = args.datamodels.map((p) => [p, fs.readFileSync(p, "utf8")]);
    factory = bindMigrationAwareSqlAdapterFactory(adapterFactory(main, ds.shadow));
    engine = await glue.SchemaEngine.new({ datamodels: datamodels.length ? datamodels : undefined }, onEngineLog, factory);
  } catch (e) {
    const err = main ? describe(lookup(factory, e), main) : e;
    logError(err.message);
    engine = unusable(err);
  }

  process.on("SIGTERM", () => shutdown(0));
  process.on("SIGINT", () => shutdown(130));
  // The engine's glue throws some errors (a request's params it cannot
  // read, a panic) outside the promise of the call. After that the engine
  // is not safe to call again: answer the request, clean up, and end as
  // the native engine ends after a panic.
  // Between requests, nobody waits for an answer: the next request gets
  // the error (an exit now would reach the CLI as success).
  const crash = (e) => {
    const err = describe(e, main);
    logError(err.message);
    if (inFlight === null) {
      engine = unusable(err);
      return;
    }
    const id = inFlight;
    inFlight = null;
    send({ jsonrpc: "2.0", id, error: rpcError(err) });
    shutdown(1);
  };
  process.on("uncaughtException", crash);
  process.on("unhandledRejection", crash);
  // The CLI went away: nobody to answer, nothing to write.
  process.stdout.on("error", () => shutdown(1));

  // Requests are handled one at a time, in order, as the native engine does.
  let queue = Promise.resolve();
  const pendingPrints = new Map();
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  rl.on("line", (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return send({ jsonrpc: "2.0", id: null, error: { code: -32700, message: "Parse error" } });
    }
    // The CLI's answer to our `print` request.
    if (msg.method === undefined && pendingPrints.has(msg.id)) {
      pendingPrints.get(msg.id)();
      pendingPrints.delete(msg.id);
      return;
    }
    queue = queue.then(() => handle(engine, factory, main, msg, pendingPrints)).catch(crash);
  });
  rl.on("close", () => queue.then(() => shutdown(0)));
}

/** An engine that could not start: every request gets the reason. */
function unusable(err) {
  return new Proxy(
    {},
    {
      get: (_, method) => (typeof method === "string" && !method.startsWith("__") && method !== "free" ? () => Promise.reject(err) : undefined),
    },
  );
}

let printId = 0;
/** The id of the request being handled, for an answer if the engine crashes. */
let inFlight = null;

async function handle(engine, factory, ds, req, pendingPrints) {
  const { id, method, params } = req;
  if (typeof engine[method] !== "function" || method === "free" || method.startsWith("__")) {
    return send({ jsonrpc: "2.0", id, error: { code: -32601, message: `Method not found: ${method}` } });
  }
  shadowFailure = null;
  driverErrors.last = null;
  inFlight = id;
  try {
    let result = await call(engine, method, params);
    if (method === "diff" && result && typeof result.stdout === "string") {
      // The native engine sends a diff's text as a `print` request.
      const { stdout, ...rest } = result;
      if (stdout) await print(stdout, pendingPrints);
      result = rest;
    }
    send({ jsonrpc: "2.0", id, result: result ?? null });
  } catch (e) {
    send({ jsonrpc: "2.0", id, error: rpcError(describe(lookup(factory, e), ds)) });
  }
  inFlight = null;
}

/**
 * One engine call. `evaluateDataLoss` and `createMigration` take the
 * migrations' schema from a cache that only the calls given the shadow
 * database factory fill; when `migrate dev` first applied migrations to a
 * database that was behind, the cache misses and the WebAssembly engine
 * fails ("PostgreSQL shadow DB must be provided through an external
 * factory") where the native one makes a shadow database. The host then
 * fills the cache with the same history read through the factory, once.
 */
async function call(engine, method, params) {
  // Keep each call on the engine object: the binding is to its instance.
  try {
    return await engine[method](params);
  } catch (e) {
    const cacheMiss = /shadow DB must be provided through an external factory/.test(String(e?.message));
    if (!cacheMiss || !params?.migrationsList) throw e;
    trace("filling the migration schema cache", { method });
    await engine.diagnoseMigrationHistory({ migrationsList: params.migrationsList, optInToShadowDatabase: true, filters: params.filters });
    return await engine[method](params);
  }
}

function print(content, pendingPrints) {
  const id = `print-${++printId}`;
  return new Promise((resolve) => {
    pendingPrints.set(id, resolve);
    send({ jsonrpc: "2.0", id, method: "print", params: { content } });
  });
}

/** The error the adapter recorded behind a `GenericJs` id, when there is one. */
function lookup(factory, e) {
  if (!factory) return e;
  const m = /GenericJs.*?"id":\s*(\d+)|GenericJs\(\s*(\d+)\s*\)/.exec(String(e?.message ?? ""));
  const id = e?.cause?.id ?? e?.id ?? (m ? Number(m[1] ?? m[2]) : undefined);
  if (id !== undefined) {
    const found = factory.errorRegistry.consumeError(id);
    if (found) return found.error;
  }
  return e;
}

/**
 * The user-facing error for whatever the engine threw: its own P-code when
 * it has one, the native code rebuilt from the driver's error otherwise.
 */
function describe(e, ds) {
  trace("engine error", { name: e?.name, code: e?.code, message: redacted(e), driver: driverErrors.last && redacted(driverErrors.last), driverCode: driverErrors.last?.code });
  if (shadowFailure) return shadowCreation(shadowFailure);
  if (e instanceof KnownError) return e;
  if (e && typeof e.code === "string" && /^P\d{4}$/.test(e.code)) return inNativeWords(e, ds);
  // The engine's text ("external connector error ...") keeps the failing
  // migration's name; the driver's own error keeps the SQLSTATE.
  const msg = String(e?.message ?? e);
  const driver = driverErrors.last;
  const script = /apply_script[\s\S]*?migration_name="([^"]+)"/.exec(msg);
  if (script && driver && typeof driver.severity === "string") return migrationFailed(script[1], driver);
  const known = fromDriver(driver, ds) || fromDriver(e, ds);
  if (known) return known;
  const err = new Error(redacted(e));
  err.isPanic = e instanceof WebAssembly.RuntimeError;
  return err;
}

/**
 * An error the WebAssembly engine coded itself, in the native engine's
 * words where they differ: its P1002 says "at the configured address" and
 * "Timeout: 10000ms" where the native one names host and port and says
 * "Elapsed".
 */
function inNativeWords(e, ds) {
  const msg = String(e.message);
  if (e.code === "P1002" && /pg_advisory_lock/.test(msg)) {
    const ms = /(?:Timeout|Elapsed): (\d+)ms/.exec(msg);
    return lockTimeout(ds, ms ? Number(ms[1]) : 10000);
  }
  return new KnownError(e.code, msg, e.meta ?? {});
}

function rpcError(err) {
  const data = { is_panic: Boolean(err.isPanic), message: err.message, meta: err.meta ?? {} };
  if (err.errorCode) data.error_code = err.errorCode;
  if (err.isPanic) data.error = { message: err.message };
  return { code: 4466, message: "An error happened. Check the data field for details.", data };
}

// ---- the adapter factory: one main connection, a real shadow database ----

function adapterFactory(main, shadowDs) {
  return {
    provider: "postgres",
    adapterName: "@prisma/adapter-pg",
    connect: () => connectTo(main, { schema: main.schema }),
    connectToShadowDb: async () => {
      if (shadowDs) {
        const adapter = await connectTo(shadowDs, { schema: shadowDs.schema });
        await resetSchema(adapter, shadowDs.schema);
        return adapter;
      }
      return createShadowDb(main);
    },
  };
}

/** An adapter over one connection to `ds`, with the native engine's script semantics. */
async function connectTo(ds, { schema }) {
  const pool = await open(ds, (c) => c.query(`SET search_path = ${ident(schema)}`));
  cleanup.pools.add(pool);
  const adapter = await new PrismaPg(pool, { schema, disposeExternalPool: true }).connect();
  // adapter-pg splits a script on ";" and runs the pieces one by one; the
  // native engine sends the whole script as one simple query, which
  // PostgreSQL runs as one implicit transaction (all or nothing).
  adapter.executeScript = async (script) => {
    try {
      await pool.query(script);
    } catch (e) {
      adapter.onError(e);
    }
  };
  const dispose = adapter.dispose.bind(adapter);
  adapter.dispose = async () => {
    cleanup.pools.delete(pool);
    await dispose();
  };
  return adapter;
}

/** `prisma_migrate_shadow_db_<uuid>`, dropped WITH (FORCE) when the engine is done with it. */
async function createShadowDb(main) {
  const name = `prisma_migrate_shadow_db_${randomUUID()}`;
  let admin;
  try {
    admin = await open(main);
    leftovers.add(main, name);
    await admin.query(`CREATE DATABASE ${ident(name)}`);
  } catch (e) {
    leftovers.remove(name);
    await admin?.end().catch(() => {});
    // P3014 is the server refusing CREATE DATABASE; a connection that
    // fails on the way keeps its own code (P1017, P1001, ...).
    if (typeof e.severity === "string") shadowFailure = e;
    throw e;
  }
  cleanup.shadowDbs.set(name, admin);
  const adapter = await connectTo(main.withDatabase(name), { schema: main.schema });
  const dispose = adapter.dispose;
  adapter.dispose = async () => {
    await dispose();
    await dropShadowDb(name);
  };
  return adapter;
}

async function dropShadowDb(name) {
  const admin = cleanup.shadowDbs.get(name);
  cleanup.shadowDbs.delete(name);
  await dropDatabase(admin, name);
  await admin.end().catch(() => {});
}

/**
 * DROP DATABASE for a shadow database of ours: WITH (FORCE) (PostgreSQL
 * 13+) because a killed or interrupted statement may still run in it, plain
 * where FORCE does not exist. Forgets it once it is gone.
 */
async function dropDatabase(admin, name) {
  try {
    await admin.query(`DROP DATABASE IF EXISTS ${ident(name)} WITH (FORCE)`);
  } catch (e) {
    if (e.code !== "42601") throw e;
    await admin.query(`DROP DATABASE IF EXISTS ${ident(name)}`);
  }
  leftovers.remove(name);
}

/**
 * The shadow databases this host created and has not dropped yet, kept in
 * `.xtask/engine-shadow-databases.json` in the project with the creating
 * host's pid: a host that was killed (SIGKILL, OOM) cannot drop its own, so
 * the next run on the same server drops those whose host is gone, WITH
 * (FORCE) because the killed host's statement may still run in them. Only
 * databases recorded here are touched, never another developer's shadow
 * database on a shared server, nor one a live run on this machine uses.
 */
const leftovers = {
  file: path.join(process.cwd(), ".xtask", "engine-shadow-databases.json"),
  read() {
    try {
      return JSON.parse(fs.readFileSync(this.file, "utf8"));
    } catch {
      return [];
    }
  },
  write(list) {
    try {
      if (list.length === 0) return void fs.rmSync(this.file, { force: true });
      fs.mkdirSync(path.dirname(this.file), { recursive: true });
      fs.writeFileSync(this.file, JSON.stringify(list) + "\n", { mode: 0o600 });
    } catch {
      // a read-only project: the record is a convenience, not a condition
    }
  },
  add(ds, name) {
    this.write([...this.read(), { host: ds.host, port: ds.port, database: name, pid: process.pid }]);
  },
  remove(name) {
    this.write(this.read().filter((e) => e.database !== name));
  },
  /** Drops the recorded ones on `ds`'s server, quietly. */
  async dropOn(ds) {
    const mine = this.read().filter((e) => e.host === ds.host && e.port === ds.port && !alive(e.pid));
    if (mine.length === 0) return;
    let admin;
    try {
      admin = await open(ds);
      for (const e of mine) {
        await dropDatabase(admin, e.database);
        logInfo(`dropped ${e.database}, a shadow database left by an earlier run that was killed`);
      }
    } catch {
      // in use or unreachable: the next run tries again
    } finally {
      await admin?.end().catch(() => {});
    }
  },
};

/** A shadow database the user named: emptied first, as the native engine does. */
async function resetSchema(adapter, schema) {
  await adapter.executeScript(`DROP SCHEMA IF EXISTS ${ident(schema)} CASCADE; CREATE SCHEMA ${ident(schema)}; SET search_path = ${ident(schema)}`);
}

function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return e.code === "EPERM";
  }
  // A killed host whose parent has not reaped it yet is a zombie: gone.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return true;
  }
}

/** Drops each of `names`; the ones that could not be dropped. */
async function dropAll(admin, names) {
  const left = [];
  for (const name of names) {
    await dropDatabase(admin, name).catch(() => left.push(name));
  }
  return left;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms).unref());

let shuttingDown = false;

/** Drops shadow databases still there, closes every connection, exits. */
async function shutdown(code) {
  if (shuttingDown) return;
  shuttingDown = true;
  process.exitCode = code;
  const timer = setTimeout(() => process.exit(code), 5000);
  timer.unref();
  // The shadow databases from a fresh connection (the admin one may be
  // busy): FORCE ends a statement still running in them. Without FORCE
  // (PostgreSQL 12 and older) our connections must go first.
  const names = [...cleanup.shadowDbs.keys()];
  const endPools = () =>
    Promise.race([Promise.all([...cleanup.pools, ...cleanup.shadowDbs.values()].map((p) => p.end().catch(() => {}))), sleep(2000)]);
  let left = names;
  try {
    const admin = await open(cleanup.mainDs);
    left = await dropAll(admin, names);
    if (left.length) {
      await endPools();
      left = await dropAll(admin, left);
    }
    await admin.end();
  } catch {
    // the server is gone: the record in .xtask/ lets the next run drop them
  }
  await endPools();
  exit(code);
}

// ---- output ----

/** XTASK_ENGINE_TRACE=FILE: what the engine and the driver really raised, for bug reports. */
function trace(what, fields) {
  if (!process.env.XTASK_ENGINE_TRACE) return;
  try {
    fs.appendFileSync(process.env.XTASK_ENGINE_TRACE, redactUrls(JSON.stringify({ what, ...fields })) + "\n");
  } catch {
    // a trace that cannot be written must not change the outcome
  }
}

function send(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

function onEngineLog(line) {
  // The engine's tracing lines, as the native engine writes them to stderr.
  let parsed = null;
  try {
    parsed = typeof line === "string" ? JSON.parse(line) : line;
  } catch {
    parsed = null;
  }
  if (parsed && parsed.fields) process.stderr.write(redactUrls(JSON.stringify(parsed)) + "\n");
  else logInfo(String(line));
}

function logLine(level, message, extra = {}) {
  const fields = { message: redactUrls(message), ...extra };
  process.stderr.write(JSON.stringify({ timestamp: new Date().toISOString(), level, fields, target: "schema_engine::logger" }) + "\n");
}

const logInfo = (m) => logLine("INFO", m);
const logError = (m) => logLine("ERROR", m);

/** Ends a cli-mode run the way the CLI reads it: an ERROR line with the code. */
function fail(err) {
  logLine("ERROR", err.message, err.errorCode ? { error_code: err.errorCode } : {});
  exit(1);
  // Nothing after a failure runs while the output drains.
  throw new Exiting();
}

class Exiting extends Error {}

function ident(name) {
  return `"${String(name).replace(/"/g, '""')}"`;
}

/** A message with any connection URL's password masked. */
function redactUrls(text) {
  // Up to the last `@` before the host: a raw `@` may stand in a password.
  return String(text).replace(/(postgres(?:ql)?:\/\/[^:/@\s"]*:)[^\s"]*@/g, "$1****@");
}

function redacted(e) {
  return redactUrls(e?.message ?? String(e));
}

// ---- main (last: every binding above is initialised by now) ----

const args = parseArgs(process.argv.slice(2));

try {
  if (args.version) await version();
  else if (args.cli) await cliMode(args.cli);
  else await rpcMode();
} catch (e) {
  if (!(e instanceof Exiting)) throw e;
}
