-- Transform registry: one row per uploaded module version. The module bytes
-- are base64 inside the JSON body; the registry caps modules at 4 MiB, so a
-- row stays under about 5.5 MB.
CREATE TABLE transform_modules (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    name text NOT NULL,
    -- name@moduleVersion: unique, so two uploads racing for one version
    -- number conflict.
    name_version text NOT NULL UNIQUE
);
CREATE INDEX transform_modules_name ON transform_modules (name);
