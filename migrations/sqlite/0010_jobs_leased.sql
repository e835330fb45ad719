-- Pending jobs under a lease, by when the lease ends: with `jobs_pending` (by `due_at`) the
-- scheduler finds its next wake-up from the first row of each index instead of every pending job.
CREATE INDEX jobs_leased ON jobs (lease_until) WHERE done_at IS NULL AND lease_until IS NOT NULL;
