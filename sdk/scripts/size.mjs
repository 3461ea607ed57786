// Prints the SDK's size as an app ships it: bundled, minified, gzipped. Fails over the budget,
// so a change that makes every page heavier is seen in `npm test`.
import { build } from "esbuild";
import { gzipSync } from "node:zlib";
import { readFileSync } from "node:fs";

const BUDGET_GZIP_BYTES = 7 * 1024;
const entry = new URL("../src/index.js", import.meta.url).pathname;
const out = await build({ entryPoints: [entry], bundle: true, minify: true, format: "esm", target: "es2020", write: false });
const min = out.outputFiles[0].contents;
const gz = gzipSync(min, { level: 9 }).length;
const raw = readFileSync(entry).length;
console.log(`@edge-logger/sdk: ${raw} B source, ${min.length} B minified, ${gz} B minified+gzipped (budget ${BUDGET_GZIP_BYTES} B)`);
if (gz > BUDGET_GZIP_BYTES) {
  console.error("over the size budget");
  process.exit(1);
}
