// Prisma error codes for the engine host (schema-engine.mjs), rebuilt from
// what node-postgres and the WebAssembly engine report, in the native
// engine's words (prisma-engines libs/user-facing-errors, common.rs and
// schema_engine.rs), so that the CLI prints the same `Error: P1017` and the
// xtask's diagnosis reads it as it reads the native engine's.
//
// The WebAssembly engine throws plain errors without a code for connection
// failures, and reports a failed migration script as a connector error
// rather than P3018: the code is rebuilt from the driver's error (SQLSTATE,
// socket error, TLS error) that caused it.

/** A user-facing error: a P-code and the native engine's message. */
export class KnownError extends Error {
  constructor(code, message, meta = {}) {
    super(message);
    this.errorCode = code;
    this.meta = meta;
  }
}

const TLS_CODES = new Set([
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_CRL",
  "UNABLE_TO_DECRYPT_CERT_SIGNATURE",
  "UNABLE_TO_DECRYPT_CRL_SIGNATURE",
  "UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY",
  "CERT_SIGNATURE_FAILURE",
  "CRL_SIGNATURE_FAILURE",
  "CERT_NOT_YET_VALID",
  "CERT_HAS_EXPIRED",
  "CRL_NOT_YET_VALID",
  "CRL_HAS_EXPIRED",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "CERT_CHAIN_TOO_LONG",
  "CERT_REVOKED",
  "INVALID_CA",
  "PATH_LENGTH_EXCEEDED",
  "INVALID_PURPOSE",
  "CERT_UNTRUSTED",
  "CERT_REJECTED",
  "HOSTNAME_MISMATCH",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "ERR_TLS_CERT_ALTNAME_FORMAT",
  "ERR_SSL_WRONG_VERSION_NUMBER",
  "ETLSFILE",
]);

const UNREACHABLE = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "EHOSTUNREACH", "ENETUNREACH", "EADDRNOTAVAIL", "ETIMEDOUT"]);
const CLOSED = new Set(["ECONNRESET", "EPIPE", "ECONNABORTED"]);

const notReachable = (ds) =>
  new KnownError(
    "P1001",
    `Can't reach database server at \`${ds.host}\`:\`${ds.port}\`\n\nPlease make sure your database server is running at \`${ds.host}\`:\`${ds.port}\`.`,
    { database_host: ds.host, database_port: ds.port },
  );

export const connectionClosed = () => new KnownError("P1017", "Server has closed the connection.");

/**
 * The user-facing error for a driver failure `e` (a node-postgres or socket
 * error, or adapter-pg's error kind) on the connection to `ds`; null when
 * it has no P-code of its own (the caller keeps the engine's message).
 */
export function fromDriver(e, ds) {
  if (!e) return null;
  if (e instanceof KnownError) return e;
  const kind = e.kind;
  if (kind === "ConnectionClosed") return connectionClosed();
  if (kind === "DatabaseNotReachable" || kind === "SocketTimeout") return notReachable(ds);
  if (kind === "TlsConnectionError") return tls(e.reason);
  if (kind === "TooManyConnections") return fromSqlState("53300", e.cause, ds);
  if (kind === "postgres") return fromSqlState(e.code, e.message, ds);
  if (kind === "AuthenticationFailed") return fromSqlState("28P01", "", ds);
  if (kind === "DatabaseDoesNotExist") return fromSqlState("3D000", "", ds);
  if (kind === "DatabaseAccessDenied") return fromSqlState("28000", "", ds);
  if (kind && e.originalCode) return fromSqlState(e.originalCode, e.originalMessage, ds);

  const code = e.code;
  if (typeof code === "string" && (TLS_CODES.has(code) || /^ERR_(SSL|TLS)_/.test(code))) return tls(e.message);
  if (e.message === "The server does not support SSL connections") return tls(e.message);
  if (typeof code === "string" && UNREACHABLE.has(code)) return notReachable(ds);
  if (typeof code === "string" && CLOSED.has(code)) return connectionClosed();
  // A connect timeout first: pg-pool words it "Connection terminated due to
  // connection timeout", and the native engine reports it as P1001.
  if (/timeout expired|Connection terminated due to connection timeout/.test(e.message || "")) return notReachable(ds);
  if (/^Connection terminated|^Client has encountered a connection error|^Connection ended/.test(e.message || "")) {
    return connectionClosed();
  }
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return fromSqlState(code, e.message, ds);
  return null;
}

function tls(message) {
  return new KnownError("P1011", `Error opening a TLS connection: ${message}`, { message });
}

/** A server error by SQLSTATE, as the native engine names it at connect time. */
function fromSqlState(state, message, ds) {
  switch (state) {
    case "28P01":
      return new KnownError(
        "P1000",
        `Authentication failed against database server at \`${ds.host}\`, the provided database credentials for \`${ds.user}\` are not valid.\n\nPlease make sure to provide valid database credentials for the database server at \`${ds.host}\`.`,
        { database_user: ds.user, database_host: ds.host },
      );
    case "3D000":
      return new KnownError(
        "P1003",
        `Database \`${ds.database}\` does not exist on the database server at \`${ds.host}:${ds.port}\`.`,
        { database_name: ds.database, database_host: ds.host, database_port: ds.port },
      );
    case "28000":
      // quaint reads every 28000 (pg_hba.conf refusals included) as access denied.
      return new KnownError("P1010", `User \`${ds.user}\` was denied access on the database \`${ds.database}.${ds.schema}\``, {
        database_user: ds.user,
        database_name: `${ds.database}.${ds.schema}`,
      });
    case "57P01":
    case "57P02":
    case "57P03":
      return connectionClosed();
    default:
      return null;
  }
}

/** P1002 after Prisma's advisory lock waited its 10 s. */
export function lockTimeout(ds, elapsedMs) {
  return new KnownError(
    "P1002",
    `The database server at \`${ds.host}\`:\`${ds.port}\` was reached but timed out.\n\nPlease try again.\n\nPlease make sure your database server is running at \`${ds.host}\`:\`${ds.port}\`.\n\nContext: Timed out trying to acquire a postgres advisory lock (SELECT pg_advisory_lock(72707369)). Elapsed: ${elapsedMs}ms. See https://pris.ly/d/migrate-advisory-locking for details.\n`,
    { database_host: ds.host, database_port: String(ds.port) },
  );
}

/** P3014: the shadow database could not be created. */
export function shadowCreation(driverError) {
  const inner = driverError?.message ? `ERROR: ${driverError.message}` : String(driverError);
  return new KnownError(
    "P3014",
    `Prisma Migrate could not create the shadow database. Please make sure the database user has permission to create databases. Read more about the shadow database (and workarounds) at https://pris.ly/d/migrate-shadow\n\nOriginal error: \n${inner}`,
  );
}

/** P3018: a migration script failed; `e` is node-postgres's error from the server. */
export function migrationFailed(name, e) {
  const code = e.code || "none";
  // As tokio-postgres prints a server error, which the native engine quotes.
  const text = `${e.severity}: ${e.message}${e.detail ? `\nDETAIL: ${e.detail}` : ""}${e.hint ? `\nHINT: ${e.hint}` : ""}`;
  return new KnownError(
    "P3018",
    `A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\nMigration name: ${name}\n\nDatabase error code: ${code}\n\nDatabase error:\n${text}\n`,
    { migration_name: name, database_error_code: code, database_error: text },
  );
}
