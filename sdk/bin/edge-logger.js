#!/usr/bin/env node
// edge-logger's command line: follow a live tail, or search, from a terminal.
//
//   npx edge-logger tail 'level:>=error service:checkout'
//   npx edge-logger search 'timeout !env:staging' --since 1h
//
// The worker's address and a key with the read scope come from --url/--key or
// EDGE_LOGGER_URL/EDGE_LOGGER_KEY. Lines are coloured on a terminal (NO_COLOR or --no-color
// turn it off); --json prints each event as one line of JSON. Node 20 or later, no dependencies.
import { run } from "../src/cli.js";

run(process.argv.slice(2), {
  env: process.env,
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  isTTY: Boolean(process.stdout.isTTY),
}).then(
  (code) => process.exit(code),
  (e) => {
    process.stderr.write(`edge-logger: ${e.message}\n`);
    process.exit(1);
  },
);
