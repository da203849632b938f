package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/outpostdc/outpost/appliance"
)

const machineCols = `m.id, m.serial, m.state, m.frozen_from, m.state_reason, m.hostname, m.role, m.rack,
	m.location, m.hw_class, m.uuid, m.hardware, m.created_at, m.updated_at, m.bmc_address, m.last_seen, m.agent_mode`

type scanner interface{ Scan(...any) error }

func scanMachine(r scanner, withHW bool) (appliance.Machine, error) {
	var m appliance.Machine
	var state, frozen, hw string
	var created, updated, seen int64
	err := r.Scan(&m.ID, &m.Serial, &state, &frozen, &m.StateReason, &m.Hostname, &m.Role, &m.Rack,
		&m.Location, &m.Class, &m.UUID, &hw, &created, &updated, &m.BMCAddress, &seen, &m.AgentMode)
	if err != nil {
		return m, err
	}
	m.State, m.FrozenFrom = appliance.State(state), appliance.State(frozen)
	if withHW && hw != "" && hw != "{}" {
		m.Hardware = json.RawMessage(hw)
	}
	m.CreatedAt, m.UpdatedAt, m.LastSeen = fromNS(created), fromNS(updated), fromNS(seen)
	return m, nil
}

type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
}

// Machine returns one machine with its interfaces and hardware.
func (s *Store) Machine(ctx context.Context, id int64) (appliance.Machine, error) {
	return s.machineWhere(ctx, s.r, `m.id = ?`, id)
}

// MachineBySerial looks a machine up by its natural key.
func (s *Store) MachineBySerial(ctx context.Context, serial string) (appliance.Machine, error) {
	return s.machineWhere(ctx, s.r, `m.serial = ?`, serial)
}

// MachineByMAC looks a machine up by any of its interfaces.
func (s *Store) MachineByMAC(ctx context.Context, mac string) (appliance.Machine, error) {
	m, err := NormalizeMAC(mac)
	if err != nil {
		return appliance.Machine{}, err
	}
	return s.machineWhere(ctx, s.r, `m.id = (SELECT machine_id FROM interfaces WHERE mac = ?)`, m)
}

func (s *Store) machineWhere(ctx context.Context, q querier, where string, arg any) (appliance.Machine, error) {
	m, err := scanMachine(q.QueryRowContext(ctx, `SELECT `+machineCols+` FROM machines m WHERE `+where, arg), true)
	if errors.Is(err, sql.ErrNoRows) {
		return m, notFound("machine", arg)
	}
	if err != nil {
		return m, err
	}
	m.Interfaces, err = interfacesOf(ctx, q, m.ID)
	return m, err
}

func interfacesOf(ctx context.Context, q querier, id int64) ([]appliance.Interface, error) {
	rows, err := q.QueryContext(ctx, `SELECT mac, machine_id, name, coalesce(ip, ''), boot, first_seen, last_seen
		FROM interfaces WHERE machine_id = ? ORDER BY mac`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliance.Interface
	for rows.Next() {
		var i appliance.Interface
		var first, last int64
		if err := rows.Scan(&i.MAC, &i.MachineID, &i.Name, &i.IP, &i.Boot, &first, &last); err != nil {
			return nil, err
		}
		i.FirstSeen, i.LastSeen = fromNS(first), fromNS(last)
		out = append(out, i)
	}
	return out, rows.Err()
}

// Machines lists machines matching f, by ID, without hardware documents.
func (s *Store) Machines(ctx context.Context, f appliance.MachineFilter) ([]appliance.Machine, error) {
	var where []string
	var args []any
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if f.State != "" {
		if !f.State.Valid() {
			return nil, appliance.Errorf(appliance.CodeInvalid, "unknown state %q", f.State)
		}
		add(`m.state = ?`, string(f.State))
	}
	if f.Serial != "" {
		add(`m.serial = ?`, f.Serial)
	}
	if f.MAC != "" {
		mac, err := NormalizeMAC(f.MAC)
		if err != nil {
			return nil, err
		}
		add(`m.id IN (SELECT machine_id FROM interfaces WHERE mac = ?)`, mac)
	}
	if f.Hostname != "" {
		add(`m.hostname = ?`, f.Hostname)
	}
	if f.Rack != "" {
		add(`m.rack = ?`, f.Rack)
	}
	if f.Role != "" {
		add(`m.role = ?`, f.Role)
	}
	if f.Class != "" {
		add(`m.hw_class = ?`, f.Class)
	}
	if f.Query != "" {
		like := "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(strings.ToLower(f.Query)) + "%"
		add(`(lower(m.serial) LIKE ? ESCAPE '\' OR lower(m.hostname) LIKE ? ESCAPE '\' OR lower(m.rack) LIKE ? ESCAPE '\'
			OR m.id IN (SELECT machine_id FROM interfaces WHERE mac LIKE ? ESCAPE '\'))`, like, like, like, like)
	}
	if f.AfterID > 0 {
		add(`m.id > ?`, f.AfterID)
	}
	q := `SELECT ` + machineCols + ` FROM machines m`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY m.id LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliance.Machine
	for rows.Next() {
		m, err := scanMachine(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// CountByState returns how many machines are in each state.
func (s *Store) CountByState(ctx context.Context) (map[appliance.State]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT state, count(*) FROM machines GROUP BY state`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[appliance.State]int{}
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, err
		}
		out[appliance.State(st)] = n
	}
	return out, rows.Err()
}

// NewMachine is what registering a machine by hand takes.
type NewMachine struct {
	Serial   string   `json:"serial"`
	Hostname string   `json:"hostname"`
	Role     string   `json:"role"`
	Rack     string   `json:"rack"`
	Location string   `json:"location"`
	MACs     []string `json:"macs"`
	// State is ready unless given: a machine already in service can be
	// registered as deployed.
	State appliance.State `json:"state"`
}

// CreateMachine registers a machine with its MACs.
func (s *Store) CreateMachine(ctx context.Context, n NewMachine, actor appliance.Actor, reason string) (appliance.Machine, error) {
	serial := strings.TrimSpace(n.Serial)
	if serial == "" || len(serial) > 128 {
		return appliance.Machine{}, appliance.Errorf(appliance.CodeInvalid, "serial must be 1 to 128 characters")
	}
	if n.State == "" {
		n.State = appliance.StateReady
	}
	if !n.State.Valid() || n.State == appliance.StateFrozen {
		return appliance.Machine{}, appliance.Errorf(appliance.CodeInvalid, "a new machine cannot be %q", n.State)
	}
	var macs []string
	for _, m := range n.MACs {
		mac, err := NormalizeMAC(m)
		if err != nil {
			return appliance.Machine{}, err
		}
		macs = append(macs, mac)
	}
	var id int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		now := ns(s.now())
		var exists int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM machines WHERE serial = ?`, serial).Scan(&exists); err != nil {
			return err
		}
		if exists > 0 {
			return appliance.Errorf(appliance.CodeConflict, "a machine with serial %q exists", serial)
		}
		r, err := tx.ExecContext(ctx, `INSERT INTO machines (serial, state, hostname, role, rack, location, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, serial, string(n.State), n.Hostname, n.Role, n.Rack, n.Location, now, now)
		if err != nil {
			return err
		}
		id, _ = r.LastInsertId()
		for _, mac := range macs {
			var owner int64
			err := tx.QueryRowContext(ctx, `SELECT machine_id FROM interfaces WHERE mac = ?`, mac).Scan(&owner)
			if err == nil {
				return appliance.Errorf(appliance.CodeConflict, "MAC %s belongs to machine %d", mac, owner)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO interfaces (mac, machine_id, first_seen, last_seen) VALUES (?, ?, ?, ?)`,
				mac, id, now, now); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, id, actor, "create", "", n.State, reason, map[string]any{"serial": serial, "macs": macs})
	})
	if err != nil {
		return appliance.Machine{}, err
	}
	return s.machineWhere(ctx, s.w, `m.id = ?`, id)
}

// Transition moves a machine to another state, or says why it may not.
// A machine leaving frozen returns to the state it was frozen from.
func (s *Store) Transition(ctx context.Context, id int64, to appliance.State, actor appliance.Actor, reason string) (appliance.Machine, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error { return transition(ctx, tx, ns(s.now()), id, to, actor, reason) })
	if err != nil {
		return appliance.Machine{}, err
	}
	return s.machineWhere(ctx, s.w, `m.id = ?`, id)
}

// Unfreeze returns a frozen machine to the state it was frozen from.
func (s *Store) Unfreeze(ctx context.Context, id int64, actor appliance.Actor, reason string) (appliance.Machine, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var state, from string
		err := tx.QueryRowContext(ctx, `SELECT state, frozen_from FROM machines WHERE id = ?`, id).Scan(&state, &from)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("machine", id)
		}
		if err != nil {
			return err
		}
		if appliance.State(state) != appliance.StateFrozen {
			return appliance.Errorf(appliance.CodeConflict, "machine %d is %s, not frozen", id, state)
		}
		return transition(ctx, tx, ns(s.now()), id, appliance.State(from), actor, reason)
	})
	if err != nil {
		return appliance.Machine{}, err
	}
	return s.machineWhere(ctx, s.w, `m.id = ?`, id)
}

func transition(ctx context.Context, tx *sql.Tx, now, id int64, to appliance.State, actor appliance.Actor, reason string) error {
	var state, frozen string
	err := tx.QueryRowContext(ctx, `SELECT state, frozen_from FROM machines WHERE id = ?`, id).Scan(&state, &frozen)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("machine", id)
	}
	if err != nil {
		return err
	}
	from := appliance.State(state)
	if err := appliance.CheckTransition(from, appliance.State(frozen), to); err != nil {
		return err
	}
	if (to == appliance.StateBroken || to == appliance.StateFrozen) && strings.TrimSpace(reason) == "" {
		return appliance.Errorf(appliance.CodeInvalid, "a reason is required to make a machine %s", to)
	}
	newFrozen, stateReason := "", ""
	switch to {
	case appliance.StateFrozen:
		newFrozen, stateReason = string(from), reason
	case appliance.StateBroken:
		stateReason = reason
	}
	if _, err := tx.ExecContext(ctx, `UPDATE machines SET state = ?, frozen_from = ?, state_reason = ?, updated_at = ? WHERE id = ?`,
		string(to), newFrozen, stateReason, now, id); err != nil {
		return err
	}
	return audit(ctx, tx, now, id, actor, "state", from, to, reason, nil)
}

func audit(ctx context.Context, tx *sql.Tx, now, id int64, actor appliance.Actor, action string, from, to appliance.State, reason string, detail map[string]any) error {
	d := []byte("{}")
	if detail != nil {
		var err error
		if d, err = json.Marshal(detail); err != nil {
			return fmt.Errorf("audit detail: %w", err)
		}
	}
	var mid any
	if id > 0 {
		mid = id
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO audit_log (ts, machine_id, actor, action, from_state, to_state, reason, detail)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, now, mid, string(actor), action, string(from), string(to), reason, string(d))
	return err
}

// Audit returns a machine's audit entries (all machines for id 0), oldest first.
func (s *Store) Audit(ctx context.Context, machineID int64, n int) ([]appliance.AuditEntry, error) {
	q := `SELECT id, ts, coalesce(machine_id, 0), actor, action, from_state, to_state, reason, detail FROM audit_log`
	var args []any
	if machineID > 0 {
		q += ` WHERE machine_id = ?`
		args = append(args, machineID)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, limit(n))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliance.AuditEntry
	for rows.Next() {
		var a appliance.AuditEntry
		var ts int64
		var from, to, detail string
		if err := rows.Scan(&a.ID, &ts, &a.MachineID, &a.Actor, &a.Action, &from, &to, &a.Reason, &detail); err != nil {
			return nil, err
		}
		a.Time, a.From, a.To, a.Detail = fromNS(ts), appliance.State(from), appliance.State(to), json.RawMessage(detail)
		out = append(out, a)
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, rows.Err()
}

// MachinePatch changes a machine's descriptive fields. Nil means unchanged.
type MachinePatch struct {
	Hostname *string `json:"hostname"`
	Role     *string `json:"role"`
	Rack     *string `json:"rack"`
	Location *string `json:"location"`
}

// UpdateMachine applies p and records it in the audit log.
func (s *Store) UpdateMachine(ctx context.Context, id int64, p MachinePatch, actor appliance.Actor) (appliance.Machine, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.machineWhere(ctx, tx, `m.id = ?`, id)
		if err != nil {
			return err
		}
		changes := map[string]any{}
		set := func(field string, old string, v *string) (string, error) {
			if v == nil || *v == old {
				return old, nil
			}
			if len(*v) > 253 || strings.ContainsAny(*v, "\x00\n\r") {
				return "", appliance.Errorf(appliance.CodeInvalid, "%s must be at most 253 characters on one line", field)
			}
			changes[field] = map[string]string{"from": old, "to": *v}
			return *v, nil
		}
		var h, ro, ra, lo string
		if h, err = set("hostname", cur.Hostname, p.Hostname); err != nil {
			return err
		}
		if ro, err = set("role", cur.Role, p.Role); err != nil {
			return err
		}
		if ra, err = set("rack", cur.Rack, p.Rack); err != nil {
			return err
		}
		if lo, err = set("location", cur.Location, p.Location); err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		now := ns(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE machines SET hostname = ?, role = ?, rack = ?, location = ?, updated_at = ? WHERE id = ?`,
			h, ro, ra, lo, now, id); err != nil {
			return err
		}
		return audit(ctx, tx, now, id, actor, "update", "", "", "", changes)
	})
	if err != nil {
		return appliance.Machine{}, err
	}
	return s.machineWhere(ctx, s.w, `m.id = ?`, id)
}

// SetReservation fixes (or, with an invalid ip, clears) the DHCP address
// of an interface.
func (s *Store) SetReservation(ctx context.Context, mac string, ip netip.Addr, actor appliance.Actor) error {
	m, err := NormalizeMAC(mac)
	if err != nil {
		return err
	}
	var v any
	if ip.IsValid() {
		if !ip.Is4() {
			return appliance.Errorf(appliance.CodeInvalid, "reservation %s is not IPv4", ip)
		}
		v = ip.String()
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		var id int64
		err := tx.QueryRowContext(ctx, `SELECT machine_id FROM interfaces WHERE mac = ?`, m).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("interface", m)
		}
		if err != nil {
			return err
		}
		if v != nil {
			var other string
			err := tx.QueryRowContext(ctx, `SELECT mac FROM interfaces WHERE ip = ? AND mac != ?`, v, m).Scan(&other)
			if err == nil {
				return appliance.Errorf(appliance.CodeConflict, "%s is reserved for %s", ip, other)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		now := ns(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE interfaces SET ip = ? WHERE mac = ?`, v, m); err != nil {
			return err
		}
		return audit(ctx, tx, now, id, actor, "reservation", "", "", "", map[string]any{"mac": m, "ip": v})
	})
}

// Reservation returns the reserved address and hostname for a MAC.
func (s *Store) Reservation(ctx context.Context, mac string) (ip, hostname string, ok bool, err error) {
	err = s.queryRow(ctx, `SELECT coalesce(i.ip, ''), m.hostname FROM interfaces i JOIN machines m ON m.id = i.machine_id
		WHERE i.mac = ?`, mac).Scan(&ip, &hostname)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	return ip, hostname, err == nil, err
}

// InventoryMACs returns every MAC the inventory holds, or ok false when
// there are more than max of them.
func (s *Store) InventoryMACs(ctx context.Context, max int) (macs map[[6]byte]struct{}, ok bool, err error) {
	rows, err := s.r.QueryContext(ctx, `SELECT mac FROM interfaces LIMIT ?`, max+1)
	if err != nil {
		return nil, false, err
	}
	defer rows.Close()
	macs = make(map[[6]byte]struct{})
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return nil, false, err
		}
		hw, err := net.ParseMAC(m)
		if err != nil || len(hw) != 6 {
			return nil, false, fmt.Errorf("interfaces: bad MAC %q", m)
		}
		macs[[6]byte(hw)] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(macs) > max {
		return nil, false, nil
	}
	return macs, true, nil
}

// Discover records a MAC seen booting. If a machine owns the MAC, it is
// returned unchanged. Otherwise the MAC joins the machine whose key is
// key, or a new discovered machine is made, keyed by key or, without one,
// by the MAC itself until ingest learns the real identity.
func (s *Store) Discover(ctx context.Context, mac, key string) (appliance.Machine, error) {
	m, err := NormalizeMAC(mac)
	if err != nil {
		return appliance.Machine{}, err
	}
	if key == "" {
		key = "mac:" + m
	}
	var id int64
	err = s.tx(ctx, func(tx *sql.Tx) error {
		now := ns(s.now())
		err := tx.QueryRowContext(ctx, `SELECT machine_id FROM interfaces WHERE mac = ?`, m).Scan(&id)
		if err == nil {
			return nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		err = tx.QueryRowContext(ctx, `SELECT id FROM machines WHERE serial = ?`, key).Scan(&id)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			r, err := tx.ExecContext(ctx, `INSERT INTO machines (serial, state, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				key, string(appliance.StateDiscovered), now, now)
			if err != nil {
				return err
			}
			id, _ = r.LastInsertId()
			if err := audit(ctx, tx, now, id, appliance.ActorSystem, "discover", "", appliance.StateDiscovered,
				"first network boot", map[string]any{"mac": m, "key": key}); err != nil {
				return err
			}
		case err != nil:
			return err
		default:
			if err := audit(ctx, tx, now, id, appliance.ActorSystem, "mac_attached", "", "",
				"booted from a new interface", map[string]any{"mac": m}); err != nil {
				return err
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO interfaces (mac, machine_id, boot, first_seen, last_seen) VALUES (?, ?, 1, ?, ?)`,
			m, id, now, now)
		return err
	})
	if err != nil {
		return appliance.Machine{}, err
	}
	return s.machineWhere(ctx, s.w, `m.id = ?`, id)
}

// RecordAudit writes an audit entry that goes with no other change.
func (s *Store) RecordAudit(ctx context.Context, machineID int64, actor appliance.Actor, action, reason string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		return audit(ctx, tx, ns(s.now()), machineID, actor, action, "", "", reason, nil)
	})
}
