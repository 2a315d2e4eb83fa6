-- Every table keeps the record body as JSON in `data`, plus the columns that
-- the database must index or constrain, copied from the body on each write.

CREATE TABLE users (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    username TEXT NOT NULL UNIQUE,
    email TEXT NOT NULL UNIQUE
);

CREATE TABLE catalogs (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    name TEXT NOT NULL,
    external_id TEXT UNIQUE
);

CREATE TABLE controls (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    catalog_id TEXT NOT NULL REFERENCES catalogs (id) ON DELETE RESTRICT,
    external_id TEXT,
    parent_id TEXT REFERENCES controls (id) ON DELETE RESTRICT,
    UNIQUE (catalog_id, external_id)
);
CREATE INDEX controls_parent_id ON controls (parent_id);

CREATE TABLE scopes (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE
);

CREATE TABLE secrets (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    name TEXT NOT NULL,
    environment TEXT NOT NULL,
    UNIQUE (name, environment)
);

CREATE TABLE service_accounts (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL UNIQUE
);

CREATE TABLE computations (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    control_id TEXT NOT NULL,
    computation_group TEXT NOT NULL
);
CREATE INDEX computations_control_id ON computations (control_id);
CREATE INDEX computations_computation_group ON computations (computation_group);

CREATE TABLE guarantee_points (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    agreement_id TEXT NOT NULL,
    unique_key TEXT NOT NULL UNIQUE
);
CREATE INDEX guarantee_points_agreement_id ON guarantee_points (agreement_id);

CREATE TABLE mashups (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    folder_id TEXT
);
CREATE INDEX mashups_folder_id ON mashups (folder_id);

CREATE TABLE folders (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    parent_id TEXT
);
CREATE INDEX folders_parent_id ON folders (parent_id);

CREATE TABLE datasources (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    UNIQUE (owner, name)
);

CREATE TABLE linkers (
    id TEXT PRIMARY KEY NOT NULL,
    version INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    data TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE
);
