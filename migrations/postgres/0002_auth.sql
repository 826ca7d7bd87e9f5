-- Users, API keys and refresh tokens (issue 3). Forward-only: never edit once landed.
-- Ids are UUID v7 text, times are unix milliseconds, flags are BIGINT 0/1 (as in 0001).
-- Secrets are never stored: keys and refresh tokens are kept as SHA-256 hex, passwords
-- as argon2id PHC strings.

CREATE TABLE users (
    id            TEXT    PRIMARY KEY NOT NULL,
    username      TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      BIGINT  NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1)),
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY NOT NULL,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    key_hash     TEXT    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    -- JSON array of scope names.
    scopes       TEXT    NOT NULL DEFAULT '[]',
    created_at   BIGINT  NOT NULL,
    last_used_at BIGINT,
    expires_at   BIGINT,
    revoked_at   BIGINT
);

CREATE INDEX api_keys_user ON api_keys (user_id, created_at);

-- Rotating refresh tokens: each use marks the row used and adds a child in the same
-- family; presenting a used token revokes the whole family.
CREATE TABLE refresh_tokens (
    id         TEXT    PRIMARY KEY NOT NULL,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash TEXT    NOT NULL UNIQUE,
    family_id  TEXT    NOT NULL,
    parent_id  TEXT,
    -- The API key the chain started from (its revocation ends the chain), if any.
    api_key_id TEXT    REFERENCES api_keys (id) ON DELETE CASCADE,
    -- JSON array of the scopes the chain was granted.
    scopes     TEXT    NOT NULL DEFAULT '[]',
    created_at BIGINT  NOT NULL,
    expires_at BIGINT  NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);

CREATE INDEX refresh_tokens_family ON refresh_tokens (family_id);
