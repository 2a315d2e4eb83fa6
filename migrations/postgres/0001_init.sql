-- Every table keeps the record body as jsonb in `data`, plus the columns that
-- the database must index or constrain, copied from the body on each write.
-- Columns that hold a record id are uuid so that foreign keys can check them.

CREATE TABLE users (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    username text NOT NULL UNIQUE,
    email text NOT NULL UNIQUE
);

CREATE TABLE catalogs (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    name text NOT NULL,
    external_id text UNIQUE
);

CREATE TABLE controls (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    catalog_id uuid NOT NULL REFERENCES catalogs (id) ON DELETE RESTRICT,
    external_id text,
    parent_id uuid REFERENCES controls (id) ON DELETE RESTRICT,
    UNIQUE (catalog_id, external_id)
);
CREATE INDEX controls_parent_id ON controls (parent_id);

CREATE TABLE scopes (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    name text NOT NULL UNIQUE
);

CREATE TABLE secrets (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    name text NOT NULL,
    environment text NOT NULL,
    UNIQUE (name, environment)
);

CREATE TABLE service_accounts (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    name text NOT NULL UNIQUE,
    key_prefix text NOT NULL UNIQUE
);

CREATE TABLE computations (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    control_id text NOT NULL,
    computation_group text NOT NULL
);
CREATE INDEX computations_control_id ON computations (control_id);
CREATE INDEX computations_computation_group ON computations (computation_group);

CREATE TABLE guarantee_points (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    agreement_id text NOT NULL,
    unique_key text NOT NULL UNIQUE
);
CREATE INDEX guarantee_points_agreement_id ON guarantee_points (agreement_id);

CREATE TABLE mashups (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    folder_id text
);
CREATE INDEX mashups_folder_id ON mashups (folder_id);

CREATE TABLE folders (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    parent_id text
);
CREATE INDEX folders_parent_id ON folders (parent_id);

CREATE TABLE datasources (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    owner text NOT NULL,
    name text NOT NULL,
    UNIQUE (owner, name)
);

CREATE TABLE linkers (
    id uuid PRIMARY KEY,
    version bigint NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    data jsonb NOT NULL,
    name text NOT NULL UNIQUE
);
