-- 001_initial: the provenance schema of the registry.
-- Append-only: a shipped migration is never edited; changes go into a new numbered file.

CREATE TABLE models (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL CHECK (kind IN ('base', 'task', 'merged', 'imported')),
    name          TEXT    NOT NULL,
    task          TEXT,
    source_path   TEXT,
    format        TEXT    NOT NULL,
    content_hash  TEXT    NOT NULL UNIQUE CHECK (length(content_hash) = 64),
    architecture  TEXT    NOT NULL DEFAULT '{}',
    parent_id     INTEGER REFERENCES models(id),
    raw_bytes     INTEGER NOT NULL DEFAULT 0,
    stored_bytes  INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE versions (
    number          INTEGER PRIMARY KEY CHECK (number >= 1),
    model_id        INTEGER NOT NULL REFERENCES models(id),
    parent_version  INTEGER REFERENCES versions(number),
    task            TEXT,
    method          TEXT    NOT NULL,
    options_json    TEXT    NOT NULL DEFAULT '{}',
    message         TEXT    NOT NULL DEFAULT '',
    gated           INTEGER NOT NULL DEFAULT 0 CHECK (gated IN (0, 1)),
    gate_reason     TEXT,
    created_at      TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

-- 'head' is the one moving ref; tags are user names for versions.
CREATE TABLE refs (
    name        TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL CHECK (kind IN ('head', 'tag')),
    version     INTEGER NOT NULL REFERENCES versions(number),
    updated_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE merge_inputs (
    version   INTEGER NOT NULL REFERENCES versions(number),
    model_id  INTEGER NOT NULL REFERENCES models(id),
    role      TEXT    NOT NULL CHECK (role IN ('base', 'expert', 'head', 'new')),
    PRIMARY KEY (version, model_id, role)
);

CREATE TABLE layer_weights (
    version   INTEGER NOT NULL REFERENCES versions(number),
    layer     INTEGER NOT NULL CHECK (layer >= 0),
    model_id  INTEGER NOT NULL REFERENCES models(id),
    weight    REAL    NOT NULL,
    PRIMARY KEY (version, layer, model_id)
);

CREATE TABLE similarities (
    version  INTEGER NOT NULL REFERENCES versions(number),
    layer    INTEGER NOT NULL CHECK (layer >= 0),
    model_a  INTEGER NOT NULL REFERENCES models(id),
    model_b  INTEGER NOT NULL REFERENCES models(id),
    value    REAL    NOT NULL,
    sigma    REAL,
    PRIMARY KEY (version, layer, model_a, model_b)
);

CREATE TABLE sample_sets (
    id           INTEGER PRIMARY KEY,
    task         TEXT    NOT NULL,
    model_id     INTEGER REFERENCES models(id),
    source_hash  TEXT    NOT NULL,
    k            INTEGER NOT NULL CHECK (k >= 1),
    seed         INTEGER NOT NULL,
    created_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    UNIQUE (task, source_hash)
);

CREATE TABLE samples (
    set_id        INTEGER NOT NULL REFERENCES sample_sets(id) ON DELETE CASCADE,
    position      INTEGER NOT NULL,
    text          TEXT    NOT NULL,
    hash          TEXT    NOT NULL,
    cluster_size  INTEGER NOT NULL CHECK (cluster_size >= 1),
    PRIMARY KEY (set_id, position)
);

CREATE TABLE evaluations (
    version     INTEGER NOT NULL REFERENCES versions(number),
    task        TEXT    NOT NULL,
    metric      TEXT    NOT NULL,
    value       REAL    NOT NULL,
    n           INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (version, task, metric)
);

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT    NOT NULL,
    state         TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    payload_json  TEXT    NOT NULL DEFAULT '{}',
    phase         TEXT,
    progress      REAL    NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    error         TEXT,
    result_json   TEXT,
    created_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    started_at    TEXT,
    finished_at   TEXT,
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);

CREATE TABLE events (
    id           INTEGER PRIMARY KEY,
    at           TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    kind         TEXT    NOT NULL,
    version      INTEGER,
    model_id     INTEGER,
    detail_json  TEXT    NOT NULL DEFAULT '{}'
);
