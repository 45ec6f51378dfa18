// Loads Prisma's schema engine compiled to WebAssembly, for the engine host
// (schema-engine.mjs). The `.wasm` comes from the `prisma` package the CLI
// runs, so it is the exact engine of the pinned CLI; the JavaScript glue that
// feeds it comes from `@prisma/schema-engine-wasm` (its glue is the same for
// every 7.10/8.1 build: it imports and exports exactly what the module has).
//
// The glue's own entry imports the `.wasm` as an ES module, which Node 20
// refuses (ERR_UNKNOWN_FILE_EXTENSION), so the module is instantiated here
// with the glue as its import object.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";

const GLUE = "./schema_engine_bg.js";

/**
 * Where the engine's `.wasm` is: XTASK_SCHEMA_ENGINE_WASM (the xtask sets it
 * to the app's own prisma package), else the `prisma` package the project
 * directory resolves, else the one beside this file.
 */
export function wasmPath() {
  if (process.env.XTASK_SCHEMA_ENGINE_WASM) return process.env.XTASK_SCHEMA_ENGINE_WASM;
  for (const from of [path.join(process.cwd(), "package.json"), import.meta.url]) {
    try {
      const pkg = createRequire(from).resolve("prisma/package.json");
      return path.join(path.dirname(pkg), "build", "schema_engine_bg.wasm");
    } catch {
      // not resolvable from there
    }
  }
  return null;
}

/** The glue module with the engine instantiated behind it. */
export async function loadEngine(file) {
  if (!file || !fs.existsSync(file)) {
    const err = new Error(
      `Prisma's WebAssembly schema engine is not installed${file ? ` at ${file}` : ""}: this prisma package has no build/schema_engine_bg.wasm (prisma 7.10.1 ships it); run the clean install (npm ci)`,
    );
    err.code = "ENOWASM";
    throw err;
  }
  const glue = await import("@prisma/schema-engine-wasm/schema_engine_bg");
  const module = new WebAssembly.Module(fs.readFileSync(file));
  const instance = new WebAssembly.Instance(module, { [GLUE]: glue });
  glue.__wbg_set_wasm(instance.exports);
  instance.exports.__wbindgen_start();
  return glue;
}
