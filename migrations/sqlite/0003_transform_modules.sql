-- Transform registry: one row per uploaded module version. The module bytes
-- are base64 inside the JSON body; the registry caps modules at 4 MiB, so a
-- row stays under about 5.5 MB.
CREATE TABLE transform_modules (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    name TEXT NOT NULL,
    -- name@moduleVersion: unique, so two uploads racing for one version
    -- number conflict.
    name_version TEXT NOT NULL UNIQUE
);
CREATE INDEX transform_modules_name ON transform_modules (name);
