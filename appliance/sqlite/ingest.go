package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/recon"
)

// ReportPurposes are the boot tokens a hardware report may be sent with:
// every mode of the recon image reports first.
func ReportPurposes() []string {
	return []string{string(appliance.BootRecon), string(appliance.BootWait), string(appliance.BootPowerOff),
		string(appliance.BootInstall), string(appliance.BootWipe)}
}

// IngestResult is what one report did.
type IngestResult struct {
	Machine appliance.Machine
	Created bool
	// Changes lists hardware differences from the previous report.
	Changes []string
	// AgentToken lets the agent check in and ask for work from now on.
	AgentToken string
	Mode       string
}

// Ingest stores a hardware report, spending the one-time boot token it
// came with. Everything happens in one transaction: a report with a bad
// token stores nothing, and a bad report does not spend the token.
func (s *Store) Ingest(ctx context.Context, secret string, rep recon.Report, agentTTL time.Duration) (IngestResult, error) {
	if err := appliance.ValidateReport(rep); err != nil {
		return IngestResult{}, err
	}
	var res IngestResult
	err := s.consume(ctx, secret, rep.BootMAC, ReportPurposes(), func(tx *sql.Tx, t Token) error {
		var err error
		res, err = s.ingestTx(ctx, tx, rep)
		if err != nil {
			return err
		}
		res.Mode = t.Purpose
		res.AgentToken, err = issueTx(ctx, tx, s.now(), Token{MAC: t.MAC, Purpose: "agent:" + t.Purpose,
			Ref: res.Machine.ID, Expires: s.now().Add(agentTTL)})
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE machines SET agent_mode = ? WHERE id = ?`, t.Purpose, res.Machine.ID)
		return err
	})
	if err != nil {
		return IngestResult{}, err
	}
	res.Machine, err = s.machineWhere(ctx, s.w, `m.id = ?`, res.Machine.ID)
	return res, err
}

// Reingest stores a later report from an agent that has already reported
// in this boot (an LLDP neighbour heard late, say).
func (s *Store) Reingest(ctx context.Context, a Agent, rep recon.Report) (IngestResult, error) {
	if err := appliance.ValidateReport(rep); err != nil {
		return IngestResult{}, err
	}
	if !strings.EqualFold(rep.BootMAC, a.MAC) {
		return IngestResult{}, appliance.Errorf(appliance.CodeUnauthorized, "token not issued to %s", rep.BootMAC)
	}
	var res IngestResult
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		res, err = s.ingestTx(ctx, tx, rep)
		if err == nil && res.Machine.ID != a.MachineID {
			return appliance.Errorf(appliance.CodeConflict, "report identifies machine %d, the token machine %d", res.Machine.ID, a.MachineID)
		}
		return err
	})
	if err != nil {
		return IngestResult{}, err
	}
	res.Machine, err = s.machineWhere(ctx, s.w, `m.id = ?`, res.Machine.ID)
	return res, err
}

func (s *Store) ingestTx(ctx context.Context, tx *sql.Tx, rep recon.Report) (IngestResult, error) {
	var res IngestResult
	now := ns(s.now())
	key, _ := appliance.IdentityKey(rep.System.Serial, rep.System.UUID, rep.System.ChassisSerial)
	macs := appliance.ReportMACs(rep)

	id, err := idWhere(ctx, tx, `SELECT id FROM machines WHERE serial = ?`, key)
	if err != nil {
		return res, err
	}
	if id == 0 {
		// Not known by its identity: a machine first seen by its MAC
		// (discovered at boot) takes the identity now.
		owner, err := idWhere(ctx, tx, `SELECT machine_id FROM interfaces WHERE mac = ?`, macs[0])
		if err != nil {
			return res, err
		}
		var ownerState string
		if owner != 0 {
			if err := tx.QueryRowContext(ctx, `SELECT state FROM machines WHERE id = ?`, owner).Scan(&ownerState); err != nil {
				return res, err
			}
		}
		if owner != 0 && appliance.State(ownerState) == appliance.StateDiscovered {
			id = owner
			if _, err := tx.ExecContext(ctx, `UPDATE machines SET serial = ?, updated_at = ? WHERE id = ?`, key, now, id); err != nil {
				return res, err
			}
		} else {
			r, err := tx.ExecContext(ctx, `INSERT INTO machines (serial, state, created_at, updated_at) VALUES (?, ?, ?, ?)`,
				key, string(appliance.StateDiscovered), now, now)
			if err != nil {
				return res, err
			}
			id, _ = r.LastInsertId()
			res.Created = true
			if err := audit(ctx, tx, now, id, appliance.ActorIngest, "discover", "", appliance.StateDiscovered,
				"first hardware report", map[string]any{"key": key}); err != nil {
				return res, err
			}
		}
	}

	for i, mac := range macs {
		if err := attachMAC(ctx, tx, now, id, mac, i == 0, nicName(rep, mac)); err != nil {
			return res, err
		}
	}

	var oldHW, state string
	if err := tx.QueryRowContext(ctx, `SELECT hardware, state FROM machines WHERE id = ?`, id).Scan(&oldHW, &state); err != nil {
		return res, err
	}
	var old recon.Report
	if oldHW != "" && oldHW != "{}" {
		if err := json.Unmarshal([]byte(oldHW), &old); err == nil {
			res.Changes = appliance.HardwareChanges(old, rep)
		}
	}
	hw, err := json.Marshal(rep)
	if err != nil {
		return res, err
	}
	bmcAddr := ""
	if rep.BMC != nil {
		bmcAddr = rep.BMC.IP
	}
	if _, err := tx.ExecContext(ctx, `UPDATE machines SET hardware = ?, hw_class = ?, uuid = ?, bmc_address = ?,
		last_seen = ?, updated_at = ? WHERE id = ?`,
		string(hw), recon.Class(rep), strings.ToLower(rep.System.UUID), bmcAddr, now, now, id); err != nil {
		return res, err
	}
	switch {
	case appliance.State(state) == appliance.StateDiscovered:
		if err := transition(ctx, tx, now, id, appliance.StateReady, appliance.ActorIngest, "hardware report received"); err != nil {
			return res, err
		}
	case len(res.Changes) > 0:
		if err := audit(ctx, tx, now, id, appliance.ActorIngest, "hardware_changed", "", "",
			fmt.Sprintf("%d hardware changes", len(res.Changes)), map[string]any{"changes": res.Changes}); err != nil {
			return res, err
		}
	default:
		if err := audit(ctx, tx, now, id, appliance.ActorIngest, "reingest", "", "", "hardware unchanged", nil); err != nil {
			return res, err
		}
	}
	res.Machine.ID = id
	return res, nil
}

// attachMAC makes mac belong to machine id. A MAC that moves from another
// machine is recorded on both; a discovered placeholder left without any
// interface is removed, so that one machine never shows up twice.
func attachMAC(ctx context.Context, tx *sql.Tx, now, id int64, mac string, boot bool, name string) error {
	owner, err := idWhere(ctx, tx, `SELECT machine_id FROM interfaces WHERE mac = ?`, mac)
	if err != nil {
		return err
	}
	switch {
	case owner == 0:
		_, err := tx.ExecContext(ctx, `INSERT INTO interfaces (mac, machine_id, name, boot, first_seen, last_seen) VALUES (?, ?, ?, ?, ?, ?)`,
			mac, id, name, boot, now, now)
		return err
	case owner == id:
		_, err := tx.ExecContext(ctx, `UPDATE interfaces SET last_seen = ?, name = CASE WHEN ? != '' THEN ? ELSE name END,
			boot = CASE WHEN ? THEN 1 ELSE boot END WHERE mac = ?`, now, name, name, boot, mac)
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE interfaces SET machine_id = ?, name = ?, ip = NULL, last_seen = ? WHERE mac = ?`,
		id, name, now, mac); err != nil {
		return err
	}
	detail := map[string]any{"mac": mac, "from_machine": owner, "to_machine": id}
	if err := audit(ctx, tx, now, id, appliance.ActorIngest, "mac_moved", "", "", "MAC "+mac+" moved here from machine "+fmt.Sprint(owner), detail); err != nil {
		return err
	}
	if err := audit(ctx, tx, now, owner, appliance.ActorIngest, "mac_moved", "", "", "MAC "+mac+" moved to machine "+fmt.Sprint(id), detail); err != nil {
		return err
	}
	var left int
	var state string
	if err := tx.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM interfaces WHERE machine_id = ?), state FROM machines WHERE id = ?`,
		owner, owner).Scan(&left, &state); err != nil {
		return err
	}
	if left == 0 && appliance.State(state) == appliance.StateDiscovered {
		_, err := tx.ExecContext(ctx, `DELETE FROM machines WHERE id = ?`, owner)
		return err
	}
	return nil
}

func nicName(rep recon.Report, mac string) string {
	for _, n := range rep.NICs {
		if strings.EqualFold(n.MAC, mac) {
			return n.Name
		}
	}
	return ""
}

func idWhere(ctx context.Context, tx *sql.Tx, q string, arg any) (int64, error) {
	var id int64
	err := tx.QueryRowContext(ctx, q, arg).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

// Heartbeat records that an agent checked in.
func (s *Store) Heartbeat(ctx context.Context, machineID int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE machines SET last_seen = ? WHERE id = ?`, ns(s.now()), machineID)
		return err
	})
}
