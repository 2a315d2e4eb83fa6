-- Durable embedded state: token families, access and refresh tokens, and
-- sessions. Timestamps are Unix milliseconds (UTC) so expiry checks compare
-- integers. Tokens and session ids are stored only as SHA-256 hex digests.

CREATE TABLE state_token_families (
    id TEXT PRIMARY KEY NOT NULL,
    subject TEXT NOT NULL,
    claims TEXT NOT NULL,
    access_ttl_ms INTEGER NOT NULL,
    refresh_ttl_ms INTEGER NOT NULL,
    -- The latest expiry of any token issued in the family; expired families
    -- are deleted by the lazy cleanup.
    expires_at INTEGER NOT NULL
);
CREATE INDEX state_token_families_expires_at ON state_token_families (expires_at);

CREATE TABLE state_tokens (
    hash TEXT PRIMARY KEY NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('access', 'refresh')),
    family_id TEXT NOT NULL REFERENCES state_token_families (id) ON DELETE CASCADE,
    expires_at INTEGER NOT NULL,
    -- Set when a refresh token is rotated. Presenting it again revokes the family.
    used_at INTEGER
);
CREATE INDEX state_tokens_family_id ON state_tokens (family_id);
CREATE INDEX state_tokens_expires_at ON state_tokens (expires_at);

CREATE TABLE state_sessions (
    id_hash TEXT PRIMARY KEY NOT NULL,
    data TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX state_sessions_expires_at ON state_sessions (expires_at);
