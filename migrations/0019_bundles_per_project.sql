-- An assembled bundle is remembered per project: a second project assembling the same bundle
-- gets its own index rows instead of "ok" with nothing indexed (and learns nothing of the
-- first). Bundles remembered before this were assembled without a project in view; they stay
-- as the unbound keys' ('').
CREATE TABLE sourcemap_bundles_by_project (
  project     TEXT NOT NULL,
  checksum    TEXT NOT NULL,
  files       INTEGER NOT NULL,
  created_at  TEXT NOT NULL,
  PRIMARY KEY (project, checksum)
) WITHOUT ROWID;
INSERT INTO sourcemap_bundles_by_project (project, checksum, files, created_at)
  SELECT '', checksum, files, created_at FROM sourcemap_bundles;
DROP TABLE sourcemap_bundles;
ALTER TABLE sourcemap_bundles_by_project RENAME TO sourcemap_bundles;
