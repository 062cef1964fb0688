-- Runs a whole scheduler cycle as one statement, so a cycle costs the database one parse,
-- one plan (cached by PL/pgSQL) and one reply, and an idle poll is a single query. Makes the
-- heartbeat an update that PostgreSQL can keep on the same page (HOT), and sends no wake-up
-- for slots that the cycle freeing them claims for itself.

-- Tells whether any recurring job lacks its next occurrence. Sequential scans are off for
-- this query. Before ANALYZE has seen the table, as right after a bulk insert, the planner
-- expects many matching rows and picks a sequential scan that stops at the first one. With no
-- recurring job that scan reads every row (2.5 ms for 20,000 jobs, once per cycle), while the
-- partial index jobs_schedule_idx returns the result in microseconds.
CREATE OR REPLACE FUNCTION jobscheduler_schedules_need_work() RETURNS boolean
LANGUAGE sql STABLE
SET enable_seqscan = off
AS $$
    SELECT EXISTS (
        SELECT 1 FROM jobs j
        WHERE j.schedule IS NOT NULL AND j.enabled
          AND (j.status <> 'running' AND j.status <> 'queued' OR j.run_at = 'infinity'))
$$;

-- The function is VOLATILE, so each statement in it takes a fresh snapshot. The claim therefore
-- counts every claim that committed before this cycle took the claim lock.
CREATE OR REPLACE FUNCTION jobscheduler_cycle(
    p_node text,
    -- Finished runs to record, one array element per run.
    p_result_ids bigint[],
    p_result_attempts integer[],
    p_result_statuses text[],
    p_result_finished_at timestamptz[],
    p_result_exit_codes integer[],
    p_result_errors text[],
    p_result_outputs text[],
    p_result_next_run_at timestamptz[],
    -- Jobs this instance runs: never released by its own cycle.
    p_running bigint[],
    p_recover_lost_claims boolean,
    p_claim boolean,
    -- The last valid limit and paused flag, used when the stored ones are not valid.
    p_fallback_limit integer,
    p_fallback_paused boolean,
    p_lease_timeout_seconds double precision,
    p_claim_lock_key bigint)
-- One row per item, distinguished by kind:
--   recorded  id, attempt, status: a result written, with the job's new status
--   recovered id: a job put back in the queue by p_recover_lost_claims
--   setting   setting, value: a row of scheduler_config
--   released  id, name, node, attempt, status: a job whose owner's lease expired
--   claimed   id, name, command, attempt, started_at, timeout_seconds, run_at, schedule,
--             time_zone: a job this instance now runs, in claim order
--   summary   running (jobs running on every instance after the cycle), next_due_seconds
--             (until the earliest delayed job is due, or null), schedules_need_work
RETURNS TABLE (
    kind text, id bigint, attempt integer, status text, name text, command text, node text,
    started_at timestamptz, timeout_seconds integer, run_at timestamptz, schedule text,
    time_zone text, setting text, value text, running bigint, next_due_seconds double precision,
    schedules_need_work boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_limit integer;
    v_paused boolean;
    v_running bigint;
    v_claimed bigint := 0;
    v_next_due double precision;
    v_schedules boolean;
BEGIN
    -- Tells jobs_notify_wake that this transaction claims after it frees slots, so the slots
    -- it frees need no wake-up. The setting ends with the transaction.
    IF p_claim THEN
        PERFORM set_config('jobscheduler.claims_freed_slots', 'on', true);
    END IF;

    -- Results first, so their slots count as free for the claim below. A failed run with
    -- attempts left goes back to the queue after an exponential backoff with jitter (0.75 to
    -- 1.25 times retry_delay_seconds * 2^(tries - 1), at most a day). Otherwise a recurring job
    -- (next_run_at set) goes back to the queue for its next occurrence with its tries reset,
    -- and a one-off job keeps the run's status. Only the owner's current attempt is written: a
    -- retried write, or one that lost its lease to another instance, changes nothing.
    IF cardinality(p_result_ids) > 0 THEN
        RETURN QUERY
        WITH input AS (
            SELECT *
            FROM unnest(p_result_ids, p_result_attempts, p_result_statuses,
                        p_result_finished_at, p_result_exit_codes, p_result_errors,
                        p_result_outputs, p_result_next_run_at)
                 AS r(id, attempt, status, finished_at, exit_code, error, output, next_run_at)
        ), finished AS (
            UPDATE jobs j
            SET status = CASE
                    WHEN r.status = 'failed' AND j.tries < j.max_attempts THEN 'queued'
                    WHEN r.next_run_at IS NOT NULL THEN 'queued'
                    ELSE r.status END,
                run_at = CASE
                    WHEN r.status = 'failed' AND j.tries < j.max_attempts
                    THEN now() + make_interval(secs => least(
                        j.retry_delay_seconds * power(2, j.tries - 1), 86400) * (0.75 + random() / 2))
                    WHEN r.next_run_at IS NOT NULL THEN r.next_run_at
                    ELSE j.run_at END,
                tries = CASE
                    WHEN r.status = 'failed' AND j.tries < j.max_attempts THEN j.tries
                    WHEN r.next_run_at IS NOT NULL THEN 0
                    ELSE j.tries END,
                finished_at = r.finished_at, exit_code = r.exit_code, error = r.error,
                output = r.output, heartbeat_at = NULL, cancel_requested_at = NULL
            FROM input r
            WHERE j.id = r.id AND j.attempt = r.attempt AND j.node = p_node
              AND j.status = 'running'
            RETURNING j.id, j.attempt, j.status
        ), history AS (
            UPDATE job_runs h
            SET status = r.status, finished_at = r.finished_at, exit_code = r.exit_code,
                error = r.error, output = r.output
            FROM input r JOIN finished f ON f.id = r.id AND f.attempt = r.attempt
            WHERE h.job_id = r.id AND h.attempt = r.attempt
        )
        SELECT 'recorded', f.id, f.attempt, f.status, NULL, NULL, NULL, NULL::timestamptz,
               NULL::integer, NULL::timestamptz, NULL, NULL, NULL, NULL, NULL::bigint,
               NULL::double precision, NULL::boolean
        FROM finished f;
    END IF;

    -- A cycle whose reply was lost (the connection broke after the commit) claimed jobs that
    -- this instance never started. They are the running rows of this node that it does not
    -- run. They go back to the queue as if never claimed, and their run rows are removed.
    IF p_recover_lost_claims THEN
        RETURN QUERY
        WITH lost AS (
            UPDATE jobs j
            SET status = 'queued', node = NULL, heartbeat_at = NULL,
                attempt = j.attempt - 1, tries = greatest(j.tries - 1, 0)
            WHERE j.status = 'running' AND j.node = p_node AND NOT (j.id = ANY(p_running))
            RETURNING j.id, j.attempt + 1 AS attempt
        ), runs AS (
            DELETE FROM job_runs r USING lost l
            WHERE r.job_id = l.id AND r.attempt = l.attempt
        )
        SELECT 'recovered', l.id, NULL::integer, NULL, NULL, NULL, NULL, NULL::timestamptz,
               NULL::integer, NULL::timestamptz, NULL, NULL, NULL, NULL, NULL::bigint,
               NULL::double precision, NULL::boolean
        FROM lost l;
    END IF;

    -- Claimers on every instance take turns, so each counts the others' claims.
    PERFORM pg_advisory_xact_lock(p_claim_lock_key);

    RETURN QUERY
    SELECT 'setting', NULL::bigint, NULL::integer, NULL, NULL, NULL, NULL, NULL::timestamptz,
           NULL::integer, NULL::timestamptz, NULL, NULL, c.key, c.value, NULL::bigint,
           NULL::double precision, NULL::boolean
    FROM scheduler_config c;

    -- The limit and the paused flag as stored, or the fallbacks when a stored value is not
    -- valid. The rules match LiveConfig.Parse.
    SELECT coalesce(
               (SELECT CASE WHEN btrim(c.value) ~ '^\+?[0-9]{1,5}$'
                            THEN btrim(c.value)::integer END
                FROM scheduler_config c
                WHERE c.key = 'max_concurrent_jobs'),
               0)
    INTO v_limit;
    IF v_limit NOT BETWEEN 1 AND 10000 THEN
        v_limit := p_fallback_limit;
    END IF;

    SELECT coalesce(
               (SELECT CASE lower(btrim(c.value))
                           WHEN 'true' THEN true WHEN '1' THEN true WHEN 'yes' THEN true
                           WHEN 'on' THEN true
                           WHEN 'false' THEN false WHEN '0' THEN false WHEN 'no' THEN false
                           WHEN 'off' THEN false END
                FROM scheduler_config c
                WHERE c.key = 'paused'),
               p_fallback_paused)
    INTO v_paused;

    -- Jobs of instances that stopped sending heartbeats. A row set to running by hand may have
    -- no heartbeat; it ages from its last change. The jobs this instance runs are never
    -- released here, even after an outage kept its heartbeats from being written.
    RETURN QUERY
    WITH expired AS (
        UPDATE jobs j
        SET status = CASE
                WHEN j.cancel_requested_at IS NOT NULL THEN 'cancelled'
                WHEN j.tries < j.max_attempts THEN 'queued'
                ELSE 'failed' END,
            run_at = CASE WHEN j.cancel_requested_at IS NULL AND j.tries < j.max_attempts
                THEN now() + make_interval(secs => least(
                    j.retry_delay_seconds * power(2, j.tries - 1), 86400) * (0.75 + random() / 2))
                ELSE j.run_at END,
            finished_at = now(), heartbeat_at = NULL, exit_code = NULL,
            cancel_requested_at = NULL,
            error = format(
                'Scheduler instance %s stopped sending heartbeats (last one at %s); the job '
                'was released after the %s s lease timeout. Its command may have been cut off '
                'or may have finished without its result being recorded.',
                coalesce(j.node, '(unknown)'),
                to_char(coalesce(j.heartbeat_at, j.last_run, j.updated_at) AT TIME ZONE 'UTC',
                        'YYYY-MM-DD HH24:MI:SS "UTC"'),
                p_lease_timeout_seconds)
        WHERE j.status = 'running'
          AND coalesce(j.heartbeat_at, j.updated_at)
              < now() - make_interval(secs => p_lease_timeout_seconds)
          AND NOT (j.node IS NOT DISTINCT FROM p_node AND j.id = ANY(p_running))
        RETURNING j.id, j.name, j.node, j.attempt, j.error, j.finished_at, j.status
    ), history AS (
        UPDATE job_runs r
        SET status = CASE WHEN e.status = 'cancelled' THEN 'cancelled' ELSE 'failed' END,
            finished_at = e.finished_at, error = e.error
        FROM expired e
        WHERE r.job_id = e.id AND r.attempt = e.attempt
    )
    SELECT 'released', e.id, e.attempt, e.status, e.name, NULL, e.node, NULL::timestamptz,
           NULL::integer, NULL::timestamptz, NULL, NULL, NULL, NULL, NULL::bigint,
           NULL::double precision, NULL::boolean
    FROM expired e;

    -- Counted after this cycle's own results and releases.
    SELECT count(*) INTO v_running FROM jobs j WHERE j.status = 'running';

    IF p_claim AND NOT v_paused AND v_running < v_limit THEN
        RETURN QUERY
        WITH picked AS (
            SELECT j.id
            FROM jobs j
            WHERE j.status = 'queued' AND j.run_at <= now() AND j.enabled
            ORDER BY j.priority, j.run_at, j.id
            LIMIT v_limit - v_running
            -- Rows a user is editing are skipped, not waited for.
            FOR UPDATE SKIP LOCKED
        ), claimed AS (
            UPDATE jobs j
            SET status = 'running', node = p_node, last_run = clock_timestamp(),
                heartbeat_at = now(), attempt = j.attempt + 1, tries = j.tries + 1,
                finished_at = NULL, exit_code = NULL, error = NULL, output = NULL,
                cancel_requested_at = NULL
            FROM picked
            WHERE j.id = picked.id
            RETURNING j.id, j.name, j.command, j.attempt, j.last_run, j.priority, j.run_at,
                      j.timeout_seconds, j.schedule, j.time_zone
        ), history AS (
            -- A run row left by a hand-reset attempt counter is kept, not overwritten.
            INSERT INTO job_runs (job_id, attempt, node, started_at)
            SELECT c.id, c.attempt, p_node, c.last_run FROM claimed c
            ON CONFLICT (job_id, attempt) DO NOTHING
        )
        SELECT 'claimed', c.id, c.attempt, NULL, c.name, c.command, NULL, c.last_run,
               c.timeout_seconds, c.run_at, c.schedule, c.time_zone, NULL, NULL, NULL::bigint,
               NULL::double precision, NULL::boolean
        FROM claimed c
        ORDER BY c.priority, c.run_at, c.id;
        GET DIAGNOSTICS v_claimed = ROW_COUNT;
    END IF;

    -- Measured on the database's clock, so the caller can wake when the job is due whatever
    -- the skew of its own clock.
    SELECT extract(epoch FROM min(j.run_at) - now())::double precision
    INTO v_next_due
    FROM jobs j
    WHERE j.status = 'queued' AND j.run_at > now() AND j.run_at <> 'infinity';

    v_schedules := jobscheduler_schedules_need_work();

    RETURN QUERY
    SELECT 'summary', NULL::bigint, NULL::integer, NULL, NULL, NULL, NULL, NULL::timestamptz,
           NULL::integer, NULL::timestamptz, NULL, NULL, NULL, NULL, v_running + v_claimed,
           v_next_due, v_schedules;
END
$$;

-- The running jobs' index no longer contains heartbeat_at, so a heartbeat changes no indexed
-- column and PostgreSQL can write it as a heap-only tuple, without touching the eight indexes
-- of jobs. Finding expired leases reads every running job, which stay few.
CREATE INDEX IF NOT EXISTS jobs_running_node_idx ON jobs (node) WHERE status = 'running';
DROP INDEX IF EXISTS jobs_running_idx;

-- Room on each page for the new versions of heartbeat updates, so they stay heap-only.
-- Applies to pages written from now on.
ALTER TABLE jobs SET (fillfactor = 90);

-- Wakes every listening scheduler at once when work appears or a slot frees: a job is added,
-- becomes queued, has its run_at moved, or leaves the running state. Heartbeats and other
-- updates send nothing, and neither does a slot freed by a scheduler cycle that claims, since
-- that cycle claims for the slot itself before it commits (so a wake-up would find nothing).
-- A cycle that does not claim, such as that of an instance that is stopping, still wakes the
-- others. PostgreSQL folds identical notifications within one transaction into one.
CREATE OR REPLACE FUNCTION jobs_notify_wake() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- Separate branches: the transition tables exist only in the UPDATE trigger.
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('jobscheduler_wake', '');
    ELSIF EXISTS (
        SELECT 1
        FROM old_jobs o JOIN new_jobs n USING (id)
        WHERE n.status = 'queued' AND (o.status <> 'queued' OR o.run_at <> n.run_at)
    ) THEN
        PERFORM pg_notify('jobscheduler_wake', '');
    ELSIF coalesce(current_setting('jobscheduler.claims_freed_slots', true), '') <> 'on'
          AND EXISTS (
              SELECT 1
              FROM old_jobs o JOIN new_jobs n USING (id)
              WHERE o.status = 'running' AND n.status <> 'running')
    THEN
        PERFORM pg_notify('jobscheduler_wake', '');
    END IF;
    RETURN NULL;
END
$$;
