package sqlite

import (
	"context"
	"database/sql"
	"net"
	"net/netip"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/boot/dhcp"
)

type leaseReq struct {
	l    dhcp.Lease
	done chan error
}

const qUpsertLease = `INSERT INTO leases (ip, mac, hostname, state, expires_at, updated_at)
	VALUES (?, ?, ?, ?, ?, ?)
	ON CONFLICT (ip) DO UPDATE SET mac = excluded.mac, hostname = excluded.hostname,
		state = excluded.state, expires_at = excluded.expires_at, updated_at = excluded.updated_at`

var qUpsertLeases = multiRow(qUpsertLease, rowsPerInsert)

// maxLeaseBatch bounds one group commit.
const maxLeaseBatch = 512

// closedError is returned once the store is closing.
type closedError struct{}

func (closedError) Error() string { return "sqlite: store is closed" }

// SaveLease makes l durable and only then returns. Concurrent callers
// share one commit (group commit), so one fsync covers many leases.
func (s *Store) SaveLease(ctx context.Context, l dhcp.Lease) error {
	req := leaseReq{l: l, done: make(chan error, 1)}
	select {
	case s.leaseq <- req:
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return closedError{}
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		// The write may still land; the caller must not ACK either way.
		return ctx.Err()
	}
}

func (s *Store) insertLeases(ctx context.Context, tx *sql.Tx, batch []leaseReq) error {
	return s.insertRows(ctx, tx, qUpsertLease, qUpsertLeases, len(batch), func(i int) []any {
		l := batch[i].l
		return []any{l.IP.String(), macString(l.MAC), l.Hostname, string(l.State), ns(l.Expires), ns(l.Updated)}
	})
}

// LoadLeases returns every stored lease, for the DHCP server to start from.
func (s *Store) LoadLeases(ctx context.Context) ([]dhcp.Lease, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT ip, mac, hostname, state, expires_at, updated_at FROM leases`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []dhcp.Lease
	for rows.Next() {
		var ip, mac, host, state string
		var exp, upd int64
		if err := rows.Scan(&ip, &mac, &host, &state, &exp, &upd); err != nil {
			return nil, err
		}
		a, err := netip.ParseAddr(ip)
		if err != nil {
			s.log.Warn("sqlite: skipping lease with bad address", "ip", ip)
			continue
		}
		var hw net.HardwareAddr
		if mac != "" {
			if hw, err = net.ParseMAC(mac); err != nil {
				s.log.Warn("sqlite: skipping lease with bad MAC", "mac", mac)
				continue
			}
		}
		out = append(out, dhcp.Lease{IP: a, MAC: hw, Hostname: host, State: dhcp.LeaseState(state),
			Expires: fromNS(exp), Updated: fromNS(upd)})
	}
	return out, rows.Err()
}

// LeaseFilter selects leases for listing.
type LeaseFilter struct {
	MAC string
	// Active keeps only bound, unexpired leases.
	Active bool
	Limit  int
}

// ListLeases returns leases, newest first.
func (s *Store) ListLeases(ctx context.Context, f LeaseFilter) ([]appliance.Lease, error) {
	q := `SELECT l.ip, l.mac, l.hostname, l.state, l.expires_at, l.updated_at, coalesce(i.machine_id, 0)
		FROM leases l LEFT JOIN interfaces i ON i.mac = l.mac WHERE 1=1`
	var args []any
	if f.MAC != "" {
		mac, err := NormalizeMAC(f.MAC)
		if err != nil {
			return nil, err
		}
		q += ` AND l.mac = ?`
		args = append(args, mac)
	}
	if f.Active {
		q += ` AND l.state = 'bound' AND l.expires_at > ?`
		args = append(args, s.now().UnixNano())
	}
	q += ` ORDER BY l.updated_at DESC LIMIT ?`
	args = append(args, limit(f.Limit))
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []appliance.Lease
	for rows.Next() {
		var l appliance.Lease
		var exp, upd int64
		if err := rows.Scan(&l.IP, &l.MAC, &l.Hostname, &l.State, &exp, &upd, &l.MachineID); err != nil {
			return nil, err
		}
		l.Expires, l.Updated = fromNS(exp), fromNS(upd)
		out = append(out, l)
	}
	return out, rows.Err()
}

// NormalizeMAC returns mac in the stored form, or an invalid error.
func NormalizeMAC(mac string) (string, error) {
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return "", appliance.Errorf(appliance.CodeInvalid, "bad MAC address %q", mac)
	}
	return hw.String(), nil
}

func macString(hw net.HardwareAddr) string {
	if len(hw) == 0 {
		return ""
	}
	return hw.String()
}

func limit(n int) int {
	if n <= 0 || n > 10000 {
		return 1000
	}
	return n
}
