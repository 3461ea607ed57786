-- Source maps (src/sourcemaps): the index of what is in the ARTIFACTS R2 bucket. One row per
-- minified file: where its map is (`map_key`), and the minified file itself when it was
-- uploaded (`source_key`; it names functions the minifier renamed). Found by the file's
-- debug id, else by project, release and the file's URL (`~/path` or a full URL).
CREATE TABLE sourcemaps (
  id          TEXT PRIMARY KEY,
  project     TEXT NOT NULL DEFAULT '',   -- '' serves every project (an unbound key's upload)
  release     TEXT NOT NULL DEFAULT '',   -- '' for a bundle without one (found by debug id)
  dist        TEXT NOT NULL DEFAULT '',
  url         TEXT NOT NULL,
  debug_id    TEXT,
  map_key     TEXT NOT NULL,
  source_key  TEXT,
  map_bytes   INTEGER NOT NULL,
  bundle      TEXT,                       -- the sentry-cli bundle's checksum it came in
  created_at  TEXT NOT NULL,
  UNIQUE (project, release, dist, url)
);
CREATE INDEX sourcemaps_debug_id ON sourcemaps (debug_id) WHERE debug_id IS NOT NULL;
-- Bundles assembled, so an assemble call repeated for the same checksum answers "ok".
CREATE TABLE sourcemap_bundles (
  checksum    TEXT PRIMARY KEY,
  files       INTEGER NOT NULL,
  created_at  TEXT NOT NULL
);
