-- Live editing (issue 14). Forward-only: never edit once landed.
-- documents.version is the change counter of a document; content_version is the version
-- its stored content is at. A document's current state is its content with the changes
-- of document_changes after content_version applied in seq order (the live sessions
-- append there before they acknowledge; compaction writes the content and moves
-- content_version up). 0: the content is at `version` (documents stored before live
-- editing, or never edited live).
ALTER TABLE documents ADD COLUMN content_version BIGINT NOT NULL DEFAULT 0;

CREATE TABLE document_changes (
    document_id TEXT   NOT NULL REFERENCES documents (id) ON DELETE CASCADE,
    seq         BIGINT NOT NULL,
    -- The live session that pushed it, and its user.
    session     TEXT   NOT NULL,
    user_id     TEXT   NOT NULL,
    user_name   TEXT   NOT NULL,
    -- JSON array of the push's operations, as the protocol spells them.
    ops         TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (document_id, seq)
);
