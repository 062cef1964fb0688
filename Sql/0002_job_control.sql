-- Adds per-job timeouts, retries with backoff and cancellation requests.

ALTER TABLE jobs
    -- Seconds a run may take before its process tree is killed; NULL uses the
    -- default_timeout_seconds setting, and 0 means no limit.
    ADD COLUMN IF NOT EXISTS timeout_seconds integer,
    -- Runs allowed per requeue: a failed run is queued again, after a backoff, until this many
    -- have run. 1 means no retry, because shell commands are not assumed idempotent.
    ADD COLUMN IF NOT EXISTS max_attempts integer NOT NULL DEFAULT 1,
    -- Delay before the first retry, in seconds; each further retry doubles it, with jitter.
    ADD COLUMN IF NOT EXISTS retry_delay_seconds integer NOT NULL DEFAULT 10,
    -- Runs since the job was created or last requeued, for max_attempts.
    ADD COLUMN IF NOT EXISTS tries integer NOT NULL DEFAULT 0,
    -- Set while a running job is being cancelled; its owner kills it and records it cancelled.
    ADD COLUMN IF NOT EXISTS cancel_requested_at timestamptz;

ALTER TABLE jobs
    ADD CONSTRAINT jobs_timeout_seconds_check CHECK (timeout_seconds >= 0),
    ADD CONSTRAINT jobs_max_attempts_check CHECK (max_attempts BETWEEN 1 AND 100),
    ADD CONSTRAINT jobs_retry_delay_seconds_check CHECK (retry_delay_seconds BETWEEN 0 AND 86400);

INSERT INTO scheduler_config (key, value) VALUES ('default_timeout_seconds', '0')
ON CONFLICT (key) DO NOTHING;

-- The claim cycle asks when the earliest queued job that is not due yet becomes due.
CREATE INDEX IF NOT EXISTS jobs_queued_run_at_idx ON jobs (run_at) WHERE status = 'queued';
