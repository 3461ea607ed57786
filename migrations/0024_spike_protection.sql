-- Spike protection (src/controls/spike.rs): what a project received each day (whether granted
-- or not) and in the current five minutes, beside its quota counts, so one statement answers
-- both the grant and the spike.
ALTER TABLE quota_counts ADD COLUMN received_day INTEGER NOT NULL DEFAULT 0;
ALTER TABLE quota_counts ADD COLUMN five TEXT NOT NULL DEFAULT '';
ALTER TABLE quota_counts ADD COLUMN n_five INTEGER NOT NULL DEFAULT 0;
