-- 004_model_unique_bytes: the uncompressed bytes of the chunks a model's put added (after
-- deduplication, before compression), so the store page can tell the deduplication ratio
-- (raw / unique) from the compression ratio (unique / stored). NULL for models stored before.

ALTER TABLE models ADD COLUMN unique_bytes INTEGER;
