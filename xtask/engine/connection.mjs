// Connections for the schema engine host (schema-engine.mjs): a Prisma URL
// read with libpq's and the native engine's meaning, turned into a
// node-postgres configuration, and one long-lived connection per database.
//
// Why not hand the URL to node-postgres as it is: pg 8.x reads
// `sslmode=require` as verify-full (a self-signed RDS or dev-db certificate
// then fails), cannot fall back from `prefer`, and passes Prisma-only
// parameters (`schema`, `connection_limit`, `pgbouncer`, ...) to the server.
// Why one connection: the engine takes Prisma's advisory lock once and never
// unlocks it (the lock ends with the connection), as the native engine does on
// its single connection; a pool that closes idle clients would drop the lock.
import fs from "node:fs";
import path from "node:path";
import pg from "pg";

/** What the engine and its error messages need to know about a URL. */
export class Datasource {
  constructor(url) {
    let u;
    try {
      u = new URL(url);
    } catch {
      throw new UrlError("the connection string is not a valid URL");
    }
    if (u.protocol !== "postgresql:" && u.protocol !== "postgres:") {
      throw new UrlError(`the scheme \`${u.protocol.replace(/:$/, "")}\` is not postgresql`);
    }
    const params = new URLSearchParams(u.search);
    this.params = params;
    this.host = params.get("host") || decodeHost(u.hostname) || "localhost";
    this.port = Number(params.get("port") || u.port || 5432);
    this.user = safeDecode(u.username) || process.env.USER || "postgres";
    this.password = safeDecode(u.password);
    this.database = safeDecode(u.pathname.replace(/^\//, "")) || "postgres";
    this.schema = params.get("schema") || "public";
    this.sslmode = params.get("sslmode") || "prefer";
    if (!["disable", "allow", "prefer", "require", "no-verify", "verify-ca", "verify-full"].includes(this.sslmode)) {
      throw new UrlError(`sslmode \`${this.sslmode}\` is not one of disable, allow, prefer, require, verify-ca, verify-full`);
    }
    // Prisma's default connect_timeout is 5 s; 0 means wait forever.
    const t = Number(params.get("connect_timeout") ?? 5);
    this.connectTimeoutMs = Number.isFinite(t) && t > 0 ? t * 1000 : 0;
  }

  /** Whether `other` names the same database and schema on the same server. */
  sameDatabase(other) {
    return this.host === other.host && this.port === other.port && this.database === other.database && this.schema === other.schema;
  }

  /** The same server and credentials, another database. */
  withDatabase(name) {
    const other = Object.create(Datasource.prototype);
    Object.assign(other, this, { database: name });
    return other;
  }

  /** node-postgres client settings for one TLS attempt (`tls`: true/false). */
  clientConfig(tls) {
    const config = {
      host: this.host,
      port: this.port,
      user: this.user,
      password: this.password,
      database: this.database,
      connectionTimeoutMillis: this.connectTimeoutMs,
      // libpq's parameters that mean the same to node-postgres; Prisma's own
      // (schema, connection_limit, pool_timeout, pgbouncer, socket_timeout,
      // sslaccept, statement_cache_size) stay here.
      application_name: this.params.get("application_name") || undefined,
      options: this.params.get("options") || undefined,
      keepAlive: true,
    };
    // Explicit, so node-postgres never fills it from PGSSLMODE.
    config.ssl = tls ? this.tlsOptions() : false;
    return config;
  }

  /**
   * Node TLS options. sslmode and sslrootcert have libpq's meaning (as the
   * native engine reads sslmode); `sslcert`, `sslidentity` and `sslpassword`
   * have Prisma's: sslcert is the server's root certificate, sslidentity a
   * PKCS#12 client identity. libpq's client pair (sslcert with sslkey) is
   * read as libpq reads it.
   */
  tlsOptions() {
    const p = this.params;
    const acceptInvalid = p.get("sslaccept") === "accept_invalid_certs";
    const clientPair = p.get("sslcert") && p.get("sslkey");
    const rootcert = p.get("sslrootcert") || (clientPair ? null : p.get("sslcert"));
    let mode = this.sslmode;
    // libpq: `system` roots mean verify-full; a root certificate file turns
    // `require` into verify-ca. Prisma: a server certificate means verify.
    if (rootcert === "system") mode = "verify-full";
    else if (rootcert && (mode === "require" || mode === "no-verify")) mode = p.get("sslrootcert") ? "verify-ca" : "verify-full";
    const opts = {};
    if (mode === "verify-ca" || mode === "verify-full") {
      if (rootcert && rootcert !== "system") opts.ca = readFile(p.get("sslrootcert") ? "sslrootcert" : "sslcert", rootcert);
      opts.rejectUnauthorized = !acceptInvalid;
      // verify-ca checks the chain, not the name.
      if (mode === "verify-ca") opts.checkServerIdentity = () => undefined;
    } else {
      // require / prefer / allow: encrypted, the certificate not checked.
      opts.rejectUnauthorized = false;
    }
    if (clientPair) {
      opts.cert = readFile("sslcert", p.get("sslcert"));
      opts.key = readFile("sslkey", p.get("sslkey"));
    }
    if (p.get("sslidentity")) {
      opts.pfx = readFile("sslidentity", p.get("sslidentity"));
      if (p.get("sslpassword")) opts.passphrase = p.get("sslpassword");
    }
    if (!isIp(this.host) && !this.host.startsWith("/")) opts.servername = this.host;
    return opts;
  }

  /** Attempts in libpq's order: TLS first for prefer, plain first for allow. */
  tlsAttempts() {
    switch (this.sslmode) {
      case "disable":
        return [false];
      case "allow":
        return [false, true];
      case "prefer":
        return this.host.startsWith("/") ? [false] : [true, false];
      default:
        return [true];
    }
  }
}

export class UrlError extends Error {}

// node-postgres fills what a config leaves out from PGHOST, PGPASSWORD,
// PGSSLMODE, PGAPPNAME, PGOPTIONS, ~/.pgpass...; the native engine reads
// only the URL. So does this host.
for (const name of Object.keys(process.env)) {
  if (name.startsWith("PG")) delete process.env[name];
}

/** A file named by a URL parameter, relative to the project (the engine's cwd). */
function readFile(param, p) {
  const full = path.resolve(process.cwd(), p);
  try {
    return fs.readFileSync(full);
  } catch (e) {
    const err = new Error(`cannot read ${param} file ${full}: ${e.code || e.message}`);
    err.code = "ETLSFILE";
    throw err;
  }
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function decodeHost(h) {
  return safeDecode(h).replace(/^\[(.*)\]$/, "$1");
}

function isIp(h) {
  return /^[0-9.]+$/.test(h) || h.includes(":");
}

/**
 * node-postgres's client, with one difference: columns of PostgreSQL's
 * internal one-byte type `"char"` (OID 18) come back typed as text.
 * adapter-pg 7.10.1 has no mapping for it and fails the query ("Column type
 * 'char' could not be deserialized"), while the engine reads catalog columns
 * of that type (pg_class.relkind, pg_constraint.contype) on its first call.
 */
export class EngineClient extends pg.Client {
  constructor(config) {
    super(config);
    // node-postgres both rejects the running query and emits `error` when
    // the connection breaks; a checked-out client has no other listener,
    // and an unheard `error` event would end the whole host.
    this.on("error", (e) => {
      driverErrors.last = e;
    });
  }

  query(config, values, callback) {
    if (typeof values === "function") {
      callback = values;
      values = undefined;
    }
    config = withoutLockWhenDisabled(config);
    if (typeof callback === "function") {
      return super.query(config, values, (err, res) => {
        if (err) driverErrors.last = err;
        callback(err, err ? res : charAsText(res));
      });
    }
    const r = super.query(config, values);
    if (!r || typeof r.then !== "function") return r;
    return r.then(charAsText, (err) => {
      driverErrors.last = err;
      throw err;
    });
  }
}

/**
 * PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK, which the native engine reads from
 * its environment; the WebAssembly engine has no environment and takes the
 * lock regardless. The lock statement then runs as a query that returns
 * the same column and no row, and takes no lock.
 */
function withoutLockWhenDisabled(config) {
  if (!process.env.PRISMA_SCHEMA_DISABLE_ADVISORY_LOCK) return config;
  const text = typeof config === "string" ? config : config?.text;
  if (typeof text !== "string" || !/^\s*SELECT pg_advisory_lock\(72707369\)\s*;?\s*$/i.test(text)) return config;
  const off = "SELECT pg_advisory_lock(72707369) WHERE false";
  return typeof config === "string" ? off : { ...config, text: off };
}

/**
 * The last error node-postgres raised, with its SQLSTATE, detail and hint.
 * The engine turns driver errors into text ("external connector error ...")
 * and loses the SQLSTATE the native engine puts into P3018; the host reads
 * it back from here.
 */
export const driverErrors = { last: null };

const CHAR_OID = 18;
const TEXT_OID = 25;

function charAsText(res) {
  for (const r of Array.isArray(res) ? res : [res]) {
    for (const f of r?.fields ?? []) if (f.dataTypeID === CHAR_OID) f.dataTypeID = TEXT_OID;
  }
  return res;
}

/**
 * A "pool" of exactly one connection that is never closed for being idle
 * and never silently replaced: after the server or the network drops it,
 * every later query fails as a closed connection (P1017), as on the native
 * engine's single connection, instead of running without the lock.
 */
export class OneConnection extends pg.Pool {
  constructor(config) {
    super({ ...config, Client: EngineClient, max: 1, idleTimeoutMillis: 0, allowExitOnIdle: true });
    this.lost = null;
    this.opened = false;
    this.on("error", (e) => {
      this.lost = this.lost || e;
    });
  }

  /**
   * pg-pool's own query() destroys the connection after any failed
   * statement (it releases the client with the error). The engine reads
   * `_prisma_migrations` on a fresh database expecting 42P01 and goes on,
   * on the same session, with its lock: so a statement error (severity
   * ERROR) keeps the connection, and only a broken connection is dropped.
   */
  query(config, values, callback) {
    if (typeof values === "function") {
      callback = values;
      values = undefined;
    }
    const run = this.connect().then(async (client) => {
      try {
        const res = await client.query(config, values);
        client.release();
        return res;
      } catch (e) {
        client.release(broken(e) ? e : undefined);
        throw e;
      }
    });
    if (typeof callback !== "function") return run;
    run.then(
      (res) => callback(null, res),
      (err) => callback(err),
    );
    return undefined;
  }

  connect(callback) {
    if (this.lost && this.opened) {
      const e = Object.assign(new Error("Connection terminated unexpectedly"), {
        code: "ECONNRESET",
        syscall: "read",
        errno: -104,
      });
      driverErrors.last = e;
      if (callback) return void process.nextTick(() => callback(e));
      return Promise.reject(e);
    }
    const onClient = (client) => {
      if (!client.__watched) {
        client.__watched = true;
        this.opened = true;
        client.on("end", () => {
          this.lost = this.lost || new Error("connection ended");
        });
      }
    };
    if (callback) {
      return super.connect((err, client, release) => {
        if (err) driverErrors.last = err;
        else onClient(client);
        callback(err, client, release);
      });
    }
    return super.connect().then(
      (client) => {
        onClient(client);
        return client;
      },
      (err) => {
        driverErrors.last = err;
        throw err;
      },
    );
  }
}

/**
 * Opens the connection the way libpq would for the URL's sslmode (prefer
 * falls back to a plain connection when the server refuses TLS; allow
 * upgrades when the server insists on it) and runs `setup` on it. Returns
 * the pool holding that one connection.
 */
export async function open(ds, setup) {
  let lastError;
  for (const tls of ds.tlsAttempts()) {
    const pool = new OneConnection(ds.clientConfig(tls));
    try {
      const client = await pool.connect();
      try {
        if (setup) await setup(client);
      } finally {
        client.release();
      }
      return pool;
    } catch (e) {
      lastError = e;
      await pool.end().catch(() => {});
      if (!fallbackWorthy(e, tls)) break;
    }
  }
  throw lastError;
}

/** Whether the connection itself failed (not a statement on it). */
function broken(e) {
  if (!e) return false;
  if (e.severity === "FATAL" || e.severity === "PANIC") return true;
  if (typeof e.severity === "string") return false;
  return typeof e.syscall === "string" || /^(ECONN|EPIPE|ETIMEDOUT)/.test(e.code || "") || /^Connection terminated|^Client has encountered a connection error|^Connection ended/.test(e.message || "");
}

function fallbackWorthy(e, triedTls) {
  if (triedTls) return e.message === "The server does not support SSL connections";
  // A server whose pg_hba.conf has only hostssl lines for us.
  return e.code === "28000" && /no encryption/.test(e.message);
}
