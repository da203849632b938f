-- Ingest: where the BMC is, and when the recon agent last checked in.
ALTER TABLE machines ADD COLUMN bmc_address TEXT NOT NULL DEFAULT '';
ALTER TABLE machines ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
ALTER TABLE machines ADD COLUMN agent_mode TEXT NOT NULL DEFAULT '';
CREATE INDEX machines_hw_class ON machines(hw_class);
