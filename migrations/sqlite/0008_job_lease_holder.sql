-- Which node holds a job's lease (its `--node-id`): a node that restarts under its name takes
-- back the leases it held when it stopped, instead of waiting them out.
ALTER TABLE jobs ADD COLUMN leased_by TEXT;
