-- 002_lookup_indexes: indexes for the lookups the daemon makes on every request.

CREATE INDEX versions_by_model ON versions(model_id);
CREATE INDEX models_by_task ON models(task);
CREATE INDEX jobs_by_state ON jobs(state, id);
CREATE INDEX events_by_time ON events(at);
