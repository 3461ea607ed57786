// What the source-map tests share: a real bundle built by esbuild from the fixture app, and
// the real sentry-cli (npm @sentry/cli) pointed at a worker.
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { build } from "esbuild";

const ROOT = new URL("..", import.meta.url).pathname;
const FIXTURE = `${ROOT}tests/fixtures/sourcemaps`;

/** Builds the fixture app, minified with linked maps, into a fresh directory; `banner`
 *  changes the content (and so the hash) without changing the code. */
export async function bundle(banner) {
  const outdir = mkdtempSync(join(tmpdir(), "sm-"));
  await build({ entryPoints: [`${FIXTURE}/src/index.js`], bundle: true, minify: true, sourcemap: true, format: "iife", outdir, entryNames: "[name].[hash]", banner: { js: `/* ${banner} */` }, logLevel: "silent" });
  const js = readdirSync(outdir).find((f) => f.endsWith(".js"));
  return { outdir, js, path: join(outdir, js) };
}

/** Runs sentry-cli against the worker at `url` with `token`; resolves with its exit code and
 *  output. */
export function sentryCli(url, args, token) {
  return new Promise((resolve) => {
    const child = spawn(`${ROOT}node_modules/.bin/sentry-cli`, args, {
      env: { ...process.env, SENTRY_URL: url, SENTRY_AUTH_TOKEN: token, SENTRY_ORG: "acme", SENTRY_PROJECT: "shop", SENTRY_LOG_LEVEL: "warn" },
    });
    let out = "";
    child.stdout.on("data", (c) => (out += c));
    child.stderr.on("data", (c) => (out += c));
    child.on("close", (code) => resolve({ code, out }));
  });
}

