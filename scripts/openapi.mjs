// Assembles the OpenAPI document from its head (src/handlers/openapi.json) and one part per
// concern (src/<concern>/openapi.json, beside the code it describes). The Rust test
// `handlers::openapi` assembles it the same way and holds it to the route table.
import { readdirSync, readFileSync, existsSync } from "node:fs";

const ROOT = new URL("..", import.meta.url).pathname;

export function assembleOpenApi() {
  const doc = JSON.parse(readFileSync(`${ROOT}src/handlers/openapi.json`, "utf8"));
  doc.paths = {};
  const concerns = readdirSync(`${ROOT}src`, { withFileTypes: true })
    .filter((e) => e.isDirectory() && e.name !== "handlers")
    .map((e) => e.name)
    .sort();
  for (const concern of concerns) {
    const file = `${ROOT}src/${concern}/openapi.json`;
    if (!existsSync(file)) continue;
    const part = JSON.parse(readFileSync(file, "utf8"));
    for (const [path, operations] of Object.entries(part.paths ?? {})) {
      doc.paths[path] ??= {};
      for (const [method, operation] of Object.entries(operations)) {
        if (doc.paths[path][method]) throw new Error(`${method} ${path} is described twice (${file})`);
        doc.paths[path][method] = operation;
      }
    }
    for (const [name, schema] of Object.entries(part.components?.schemas ?? {})) {
      if (doc.components.schemas[name]) throw new Error(`schema ${name} is described twice (${file})`);
      doc.components.schemas[name] = schema;
    }
  }
  return doc;
}
