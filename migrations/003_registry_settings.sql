-- 003_registry_settings: what `recallctl init` chose (base, method, scenario, options), and the
-- tasks registered so far with their typical-sample set and optional eval file.

CREATE TABLE settings (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);

CREATE TABLE tasks (
    name           TEXT    PRIMARY KEY,
    model_id       INTEGER NOT NULL REFERENCES models(id),
    sample_set_id  INTEGER REFERENCES sample_sets(id),
    eval_json      TEXT,
    created_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
);
