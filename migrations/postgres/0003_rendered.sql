-- Rendered thumbnails (issue 3): the second level of the thumbnail cache, surviving
-- restarts. Forward-only: never edit once landed.
-- cache_key is the thumbnail's cache key and ETag (64 hex digits: SHA-256 of the
-- document's content hash, page, size, format, leniency and renderer version); the image
-- bytes are a blob under blob_key (their SHA-256). Times are unix milliseconds.
-- Blobs are content-addressed and may be shared with assets of the same bytes, so a row
-- whose blob has gone is a miss, rendered and stored again.

CREATE TABLE rendered (
    cache_key    TEXT   PRIMARY KEY NOT NULL,
    blob_key     TEXT   NOT NULL,
    content_type TEXT   NOT NULL,
    width        BIGINT NOT NULL,
    height       BIGINT NOT NULL,
    byte_size    BIGINT NOT NULL,
    -- JSON array of the warnings of a lenient render (fonts substituted).
    warnings     TEXT   NOT NULL DEFAULT '[]',
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL
);

-- For pruning the least recently used.
CREATE INDEX rendered_last_used ON rendered (last_used_at);
