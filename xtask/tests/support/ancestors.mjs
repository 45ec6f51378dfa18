// What the test engines (stand-in-engine.mjs, spy-engine.mjs) write down
// about the processes above them: for each ancestor, its command line and
// the DATABASE_URL in its environment, from Linux /proc.
import fs from "node:fs";

export function ancestors() {
  const out = [];
  let pid = process.ppid;
  for (let depth = 0; depth < 8 && pid > 1; depth++) {
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
      const environ = fs.readFileSync(`/proc/${pid}/environ`, "utf8").split("\0");
      const url = environ.find((e) => e.startsWith("DATABASE_URL="));
      out.push({ pid, cmdline, DATABASE_URL: url ? url.slice("DATABASE_URL=".length) : null });
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      break;
    }
  }
  return out;
}
