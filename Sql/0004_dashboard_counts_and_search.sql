-- Keeps the number of jobs per status in job_counts, so the dashboard and GET /api/stats read a
-- handful of rows instead of counting every job, and indexes job names for substring search.
-- On a large table this migration takes a while: it counts the jobs and builds two indexes
-- while writers wait (7 s for a million jobs in one run on a busy 2-core machine).

-- Taken first so no other transaction writes jobs between the back-fill and the triggers, and
-- a writer that is already running finishes before the back-fill counts.
LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE;

-- The number of jobs of one status is the sum of `jobs` over that status's rows. Several rows
-- per status let concurrent transactions each update a row of their own. A writer takes any
-- row that no open transaction has locked (FOR UPDATE SKIP LOCKED) and adds a row when all are
-- locked. So a writer never waits for the counts, and two writers never deadlock on them. The
-- deltas commit or roll back with the job rows they describe, so the sums stay exact.
CREATE TABLE IF NOT EXISTS job_counts (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    status text   NOT NULL,
    jobs   bigint NOT NULL
);

-- Adds delta to the count of one status.
CREATE OR REPLACE FUNCTION job_counts_add(count_status text, delta bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    free_row bigint;
BEGIN
    -- Under REPEATABLE READ or SERIALIZABLE, locking a row that another transaction updated
    -- after this snapshot raises a serialization failure, so such a transaction adds a row of
    -- its own instead. JobQueries.StatsAsync merges surplus rows.
    IF current_setting('transaction_isolation') = 'read committed' THEN
        SELECT id INTO free_row
        FROM job_counts
        WHERE status = count_status
        LIMIT 1
        FOR UPDATE SKIP LOCKED;
    END IF;

    IF free_row IS NULL THEN
        INSERT INTO job_counts (status, jobs) VALUES (count_status, delta);
    ELSE
        UPDATE job_counts SET jobs = jobs + delta WHERE id = free_row;
    END IF;
END
$$;

-- Applies one statement's changes: one delta per status whose count changed, so a claim of 50
-- jobs writes two (queued and running) and a heartbeat of running jobs writes none.
CREATE OR REPLACE FUNCTION job_counts_track() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    change record;
BEGIN
    -- Separate branches, because each trigger has only the transition tables of its event.
    IF TG_OP = 'INSERT' THEN
        FOR change IN
            SELECT status, count(*) AS delta FROM new_jobs GROUP BY status ORDER BY status
        LOOP
            PERFORM job_counts_add(change.status, change.delta);
        END LOOP;
    ELSIF TG_OP = 'DELETE' THEN
        FOR change IN
            SELECT status, -count(*) AS delta FROM old_jobs GROUP BY status ORDER BY status
        LOOP
            PERFORM job_counts_add(change.status, change.delta);
        END LOOP;
    ELSE
        FOR change IN
            SELECT status, sum(delta) AS delta
            FROM (
                SELECT status, 1 AS delta FROM new_jobs
                UNION ALL
                SELECT status, -1 FROM old_jobs
            ) AS moves
            GROUP BY status
            HAVING sum(delta) <> 0
            ORDER BY status
        LOOP
            PERFORM job_counts_add(change.status, change.delta);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

-- TRUNCATE fires no row-level work and has no transition tables, so it clears the counts.
CREATE OR REPLACE FUNCTION job_counts_clear() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM job_counts;
    RETURN NULL;
END
$$;

DROP TRIGGER IF EXISTS job_counts_insert ON jobs;
CREATE TRIGGER job_counts_insert AFTER INSERT ON jobs
    REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_track();

DROP TRIGGER IF EXISTS job_counts_update ON jobs;
CREATE TRIGGER job_counts_update AFTER UPDATE ON jobs
    REFERENCING OLD TABLE AS old_jobs NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_track();

DROP TRIGGER IF EXISTS job_counts_delete ON jobs;
CREATE TRIGGER job_counts_delete AFTER DELETE ON jobs
    REFERENCING OLD TABLE AS old_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_track();

DROP TRIGGER IF EXISTS job_counts_truncate ON jobs;
CREATE TRIGGER job_counts_truncate AFTER TRUNCATE ON jobs
    FOR EACH STATEMENT EXECUTE FUNCTION job_counts_clear();

-- The lock above keeps this count exact until the migration commits.
DELETE FROM job_counts;
INSERT INTO job_counts (status, jobs)
SELECT status, count(*) FROM jobs GROUP BY status;

-- Serves the same status pages as jobs_status_id_idx, and with the names in the index a search
-- within one status reads no table rows for the jobs whose names do not match.
CREATE INDEX IF NOT EXISTS jobs_status_id_name_idx ON jobs (status, id) INCLUDE (name);
DROP INDEX IF EXISTS jobs_status_id_idx;

-- Substring search on names (ILIKE '%text%') uses a trigram index when the server has the
-- pg_trgm extension (PostgreSQL's contrib, in Debian's postgresql package). Without it, or
-- without the right to create it, search still works by reading names in id order.
DO $$
DECLARE
    trgm_schema name;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'pg_trgm') THEN
        RAISE NOTICE 'pg_trgm is not available, so job names are searched without an index';
        RETURN;
    END IF;

    BEGIN
        CREATE EXTENSION IF NOT EXISTS pg_trgm;
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'not allowed to create the extension pg_trgm, so job names are searched '
            'without an index; a superuser can add it later with CREATE EXTENSION pg_trgm and '
            'CREATE INDEX jobs_name_trgm_idx ON jobs USING gin (name gin_trgm_ops)';
        RETURN;
    END;

    -- The extension may live in a schema that is not on the search path.
    SELECT extnamespace::regnamespace::name INTO trgm_schema
    FROM pg_extension
    WHERE extname = 'pg_trgm';
    EXECUTE format(
        'CREATE INDEX IF NOT EXISTS jobs_name_trgm_idx ON jobs USING gin (name %I.gin_trgm_ops)',
        trgm_schema);
END
$$;
