// Builds the dashboard (dashboard/src → dashboard/dist/dashboard/), served by the worker as
// Workers static assets at /dashboard/. Run by `npm run build:dashboard`, and so by `npm start`,
// `npm test` and `npm run deploy`. Prints the size a browser transfers (gzipped).
import { build } from "esbuild";
import { mkdirSync, copyFileSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { gzipSync } from "node:zlib";
import { assembleOpenApi } from "./openapi.mjs";

const ROOT = new URL("..", import.meta.url).pathname;
const out = `${ROOT}dashboard/dist/dashboard`;
rmSync(`${ROOT}dashboard/dist`, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: `${ROOT}dashboard/src/main.jsx` },
  bundle: true,
  minify: true,
  format: "esm",
  target: "es2020",
  jsx: "automatic",
  jsxImportSource: "preact",
  outdir: out,
  legalComments: "none",
  logLevel: "warning",
});
copyFileSync(`${ROOT}dashboard/index.html`, `${out}/index.html`);
// The OpenAPI document is a static asset too: served at /openapi.json before the worker runs,
// and kept out of the wasm's size budget. Assembled from the parts beside each concern.
writeFileSync(`${ROOT}dashboard/dist/openapi.json`, JSON.stringify(assembleOpenApi(), null, 2));
// The page holds an API key: no script, style or connection from anywhere but this origin,
// never framed. Workers static assets apply `_headers` (the worker's own answers are JSON).
writeFileSync(
  `${ROOT}dashboard/dist/_headers`,
  `/dashboard/*
  Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'
  X-Content-Type-Options: nosniff
  Referrer-Policy: no-referrer
  X-Frame-Options: DENY
`,
);
let raw = 0;
let gz = 0;
for (const f of readdirSync(out)) {
  const bytes = readFileSync(`${out}/${f}`);
  raw += statSync(`${out}/${f}`).size;
  gz += gzipSync(bytes, { level: 9 }).length;
}
console.error(`[dashboard] ${readdirSync(out).join(", ")}: ${raw} bytes, ${gz} bytes gzipped (what a browser transfers)`);
