-- Documents and assets (issue 3). Forward-only: never edit once landed.
-- Ids are UUID v7 text, times are unix milliseconds, flags are BIGINT 0/1 (sqlx's Any
-- driver reads SQLite booleans back as integers, so both engines use integers). owner_id
-- has no foreign key: the users table belongs to 0002_auth.sql.

CREATE TABLE documents (
    id             TEXT    PRIMARY KEY NOT NULL,
    owner_id       TEXT    NOT NULL,
    title          TEXT    NOT NULL,
    -- JSON array of strings, kept as given; document_tags indexes it for filters.
    tags           TEXT    NOT NULL DEFAULT '[]',
    public         BIGINT  NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
    version        BIGINT  NOT NULL,
    -- The stored bytes exactly as uploaded: a JSON document or a whole ZIP package.
    content        BLOB    NOT NULL,
    content_sha256 TEXT    NOT NULL,
    content_length BIGINT  NOT NULL,
    is_package     BIGINT  NOT NULL DEFAULT 0 CHECK (is_package IN (0, 1)),
    -- JSON array of page summaries {id, name, width, height}.
    pages          TEXT    NOT NULL DEFAULT '[]',
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL
);

CREATE INDEX documents_owner_created ON documents (owner_id, created_at DESC, id DESC);
CREATE INDEX documents_created ON documents (created_at DESC, id DESC);

CREATE TABLE document_tags (
    document_id TEXT NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    tag         TEXT NOT NULL,
    PRIMARY KEY (document_id, tag)
);

CREATE INDEX document_tags_tag ON document_tags (tag);

-- Assets are deduplicated per owner (UNIQUE (owner_id, sha256)): one user's upload never
-- reveals another's. Blobs are content-addressed, so equal bytes share one blob on disk.
CREATE TABLE assets (
    id             TEXT    PRIMARY KEY NOT NULL,
    owner_id       TEXT    NOT NULL,
    sha256         TEXT    NOT NULL,
    filename       TEXT,
    mime           TEXT    NOT NULL,
    byte_size      BIGINT  NOT NULL,
    sha512         TEXT    NOT NULL,
    md5            TEXT    NOT NULL,
    width          BIGINT,
    height         BIGINT,
    dominant_color TEXT,
    font_family    TEXT,
    font_style     TEXT,
    font_weight    BIGINT,
    blob_key       TEXT    NOT NULL,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    UNIQUE (owner_id, sha256)
);

CREATE INDEX assets_owner_created ON assets (owner_id, created_at DESC, id DESC);
CREATE INDEX assets_sha256 ON assets (sha256);
