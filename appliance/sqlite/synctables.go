package sqlite

// syncTables lists what flows to HQ: each table, its key and the columns
// the outbox triggers (0005_sync.sql) put in a row, in the same order.
func syncTables() []syncTable {
	return []syncTable{
		{Name: "machines", Key: "id", Cols: []string{"id", "serial", "state", "frozen_from", "state_reason", "hostname", "role", "rack", "location", "hw_class", "uuid", "hardware", "created_at", "updated_at", "bmc_address", "last_seen", "agent_mode", "firmware"}},
		{Name: "interfaces", Key: "mac", Cols: []string{"mac", "machine_id", "name", "ip", "boot", "first_seen", "last_seen"}},
		{Name: "leases", Key: "ip", Cols: []string{"ip", "mac", "hostname", "state", "expires_at", "updated_at"}},
		{Name: "jobs", Key: "id", Cols: []string{"id", "action", "machine_id", "params", "requester", "status", "attempts", "max_attempts", "phase", "phase_deadline", "waiting", "progress", "result", "error", "next_attempt_at", "created_at", "started_at", "ended_at", "updated_at"}},
		{Name: "audit_log", Key: "id", Cols: []string{"id", "ts", "machine_id", "actor", "action", "from_state", "to_state", "reason", "detail"}},
		{Name: "provision_requests", Key: "id", Cols: []string{"id", "intent_seq", "count", "role", "hw_class", "min_cpus", "min_memory", "hostname_pattern", "image", "status", "reason", "allocated", "installing", "done", "failed", "created_at", "updated_at"}},
		{Name: "conflicts", Key: "id", Cols: []string{"id", "intent_seq", "kind", "machine_id", "site_value", "hq_value", "rule", "status", "resolution", "created_at", "resolved_at"}},
	}
}

// syncTable describes one synced table.
type syncTable struct {
	Name, Key string
	Cols      []string
}
