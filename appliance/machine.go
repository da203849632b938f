// Package appliance holds Outpost's domain: machines and their lifecycle,
// the boot decision, and the errors the API reports. It does no I/O.
package appliance

import (
	"encoding/json"
	"time"
)

// State is a machine's place in its lifecycle.
type State string

// Machine states.
const (
	StateDiscovered State = "discovered" // MAC seen, not yet ingested
	StateReady      State = "ready"
	StateAllocated  State = "allocated"
	StateInstalling State = "installing"
	StateDeployed   State = "deployed"
	StateRecycling  State = "recycling"
	StateBroken     State = "broken"
	StateFrozen     State = "frozen"
)

// States lists every state, in lifecycle order.
func States() []State {
	return []State{StateDiscovered, StateReady, StateAllocated, StateInstalling,
		StateDeployed, StateRecycling, StateBroken, StateFrozen}
}

// Valid reports whether s is a known state.
func (s State) Valid() bool {
	for _, k := range States() {
		if s == k {
			return true
		}
	}
	return false
}

// Machine is one server in the inventory, keyed by its serial.
type Machine struct {
	ID     int64  `json:"id"`
	Serial string `json:"serial"`
	State  State  `json:"state"`
	// FrozenFrom is the state a frozen machine returns to when unfrozen.
	FrozenFrom State `json:"frozen_from,omitempty"`
	// StateReason says why the machine is in its state (broken, frozen).
	StateReason string `json:"state_reason,omitempty"`
	Hostname    string `json:"hostname"`
	Role        string `json:"role"`
	Rack        string `json:"rack"`
	Location    string `json:"location"`
	Class       string `json:"hw_class"`
	UUID        string `json:"uuid,omitempty"`
	BMCAddress  string `json:"bmc_address,omitempty"`
	// LastSeen is the recon agent's last check-in.
	LastSeen   time.Time       `json:"last_seen,omitempty"`
	AgentMode  string          `json:"agent_mode,omitempty"`
	Hardware   json.RawMessage `json:"hardware,omitempty"`
	Interfaces []Interface     `json:"interfaces,omitempty"`
	CreatedAt  time.Time       `json:"created_at"`
	UpdatedAt  time.Time       `json:"updated_at"`
}

// Interface is one NIC; its MAC belongs to exactly one machine.
type Interface struct {
	MAC       string    `json:"mac"`
	MachineID int64     `json:"machine_id"`
	Name      string    `json:"name,omitempty"`
	IP        string    `json:"ip,omitempty"` // DHCP reservation
	Boot      bool      `json:"boot"`
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// Actor names who did something, for the audit log.
type Actor string

// Actors the system itself uses.
const (
	ActorSystem Actor = "system"
	ActorIngest Actor = "ingest"
)

// AuditEntry records who changed what, and why.
type AuditEntry struct {
	ID        int64           `json:"id"`
	Time      time.Time       `json:"time"`
	MachineID int64           `json:"machine_id,omitempty"`
	Actor     string          `json:"actor"`
	Action    string          `json:"action"`
	From      State           `json:"from,omitempty"`
	To        State           `json:"to,omitempty"`
	Reason    string          `json:"reason"`
	Detail    json.RawMessage `json:"detail,omitempty"`
}

// BootEvent is one boot step in a MAC's timeline.
type BootEvent struct {
	ID      int64           `json:"id"`
	Time    time.Time       `json:"time"`
	MAC     string          `json:"mac"`
	IP      string          `json:"ip,omitempty"`
	Kind    string          `json:"kind"`
	Summary string          `json:"summary"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// TimelineEntry merges boot events and audit entries in time order.
type TimelineEntry struct {
	Time    time.Time       `json:"time"`
	Source  string          `json:"source"` // "boot" or "audit"
	Kind    string          `json:"kind"`
	MAC     string          `json:"mac,omitempty"`
	Summary string          `json:"summary"`
	Actor   string          `json:"actor,omitempty"`
	Detail  json.RawMessage `json:"detail,omitempty"`
}

// Lease is a DHCP lease as the inventory shows it.
type Lease struct {
	IP        string    `json:"ip"`
	MAC       string    `json:"mac"`
	Hostname  string    `json:"hostname,omitempty"`
	State     string    `json:"state"`
	Expires   time.Time `json:"expires"`
	Updated   time.Time `json:"updated"`
	MachineID int64     `json:"machine_id,omitempty"`
}

// MachineFilter selects machines. Zero fields match everything.
type MachineFilter struct {
	State    State
	Serial   string
	MAC      string
	Hostname string
	Rack     string
	Role     string
	Class    string
	// Query matches serial, hostname, rack or MAC by substring.
	Query string
	// AfterID pages: only machines with a larger ID.
	AfterID int64
	Limit   int
}
