-- Adds recurring jobs (a cron schedule in a time zone), a per-job enabled flag, and the live
-- settings for pausing all claiming and for pruning old history.

ALTER TABLE jobs
    -- Cron expression: five fields, or six with seconds first. NULL for a one-off job.
    ADD COLUMN IF NOT EXISTS schedule text,
    -- IANA time zone the schedule is read in, such as Europe/Berlin.
    ADD COLUMN IF NOT EXISTS time_zone text NOT NULL DEFAULT 'UTC',
    -- A disabled job is never claimed; for a recurring job that pauses its schedule.
    ADD COLUMN IF NOT EXISTS enabled boolean NOT NULL DEFAULT true;

ALTER TABLE jobs
    ADD CONSTRAINT jobs_schedule_not_blank CHECK (schedule IS NULL OR btrim(schedule) <> ''),
    ADD CONSTRAINT jobs_time_zone_not_blank CHECK (btrim(time_zone) <> '');

-- A recurring job added by plain SQL has no next occurrence yet: its run_at defaults to the
-- insert time. It is parked at 'infinity' so it does not run at once; the daemon, which knows
-- cron, then sets the next occurrence within one heartbeat.
CREATE OR REPLACE FUNCTION jobs_park_new_schedule() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.schedule IS NOT NULL AND NEW.status = 'queued' AND NEW.run_at = now() THEN
        NEW.run_at := 'infinity';
    END IF;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS jobs_park_new_schedule ON jobs;
CREATE TRIGGER jobs_park_new_schedule BEFORE INSERT ON jobs
    FOR EACH ROW EXECUTE FUNCTION jobs_park_new_schedule();

-- Finds recurring jobs that need their next occurrence set: parked ones and finished ones.
CREATE INDEX IF NOT EXISTS jobs_schedule_idx ON jobs (id)
    WHERE schedule IS NOT NULL AND (status <> 'running' AND status <> 'queued' OR run_at = 'infinity');

-- Retention reads finished runs oldest first.
CREATE INDEX IF NOT EXISTS job_runs_finished_at_idx ON job_runs (finished_at)
    WHERE finished_at IS NOT NULL;

INSERT INTO scheduler_config (key, value) VALUES
    ('paused', 'false'),
    ('run_retention_days', '30'),
    ('job_retention_days', '0')
ON CONFLICT (key) DO NOTHING;
