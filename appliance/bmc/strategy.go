package bmc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/bougou/go-ipmi/pkg/types"
)

// Interface names an IPMI LAN protocol version.
type Interface string

const (
	// Lanplus is IPMI 2.0 / RMCP+.
	Lanplus Interface = "lanplus"
	// Lan is IPMI 1.5, the last resort: weak auth and no encryption.
	Lan Interface = "lan"
)

// Strategy is one way of opening a session.
type Strategy struct {
	Interface   Interface
	CipherSuite uint8 // RMCP+ cipher suite; 0 for Lan
}

func (s Strategy) String() string {
	if s.Interface == Lan {
		return "lan (IPMI 1.5)"
	}
	return fmt.Sprintf("lanplus cipher suite %d", s.CipherSuite)
}

// DefaultStrategies is the order tried for a BMC we know nothing about:
// suite 17 (SHA-256) first; suite 3 (SHA-1) for BMCs and ipmi_sim lacking 17;
// IPMI 1.5 last. Suites are always named explicitly because go-ipmi's
// automatic probing costs seconds per connection.
func DefaultStrategies() []Strategy {
	return []Strategy{
		{Interface: Lanplus, CipherSuite: 17},
		{Interface: Lanplus, CipherSuite: 3},
		{Interface: Lan},
	}
}

// orderStrategies puts the strategy that last worked for a host first and
// keeps the rest in default order.
func orderStrategies(remembered Strategy, ok bool) []Strategy {
	def := DefaultStrategies()
	if !ok {
		return def
	}
	out := []Strategy{remembered}
	for _, s := range def {
		if s != remembered {
			out = append(out, s)
		}
	}
	return out
}

func (s Strategy) cipherSuite() types.CipherSuiteID { return types.CipherSuiteID(s.CipherSuite) }

// rmcpStatus pulls the RMCP+ status code out of go-ipmi error text. Text,
// because go-ipmi's Connect20 formats the per-suite errors with %v, so
// errors.As cannot reach the *types.RmcpStatusError
// (go-ipmi pkg/client/interface_lan.go:380).
func rmcpStatus(msg string) (types.RmcpStatusCode, bool) {
	const marker = "RMCP+ status 0x"
	i := strings.Index(msg, marker)
	if i < 0 {
		return 0, false
	}
	hex := msg[i+len(marker):]
	n := 0
	for n < len(hex) && n < 2 && strings.ContainsRune("0123456789abcdefABCDEF", rune(hex[n])) {
		n++
	}
	code, err := strconv.ParseUint(hex[:n], 16, 8)
	if err != nil {
		return 0, false
	}
	return types.RmcpStatusCode(code), true
}

// classify sorts a failed connection attempt:
//   - ErrAuth: credentials or privilege rejected; stop, since retrying
//     invites account lockout and another cipher will not fix a password.
//   - ErrUnreachable: nothing answered the first packet, which is the same
//     for every strategy; retry after backoff instead of falling back.
//   - ErrNegotiation: the BMC answered but refused this method; fall back.
//   - nil with retry=true: a timeout mid-handshake; fall back, and the
//     method may be retried next round.
func classify(err error) (kind error, retry bool) {
	if errors.Is(err, context.Canceled) {
		return context.Canceled, false
	}
	msg := err.Error()
	low := strings.ToLower(msg)

	if strings.Contains(low, "rakp authentication failed") {
		return ErrAuth, false
	}
	if code, ok := rmcpStatus(msg); ok {
		switch code {
		case types.RmcpStatusCodeInvalidRole,
			types.RmcpStatusCodeUnauthorizedRoleOfPriLevel,
			types.RmcpStatusCodeInvalidNameLength,
			types.RmcpStatusCodeUnauthorizedName,
			types.RmcpStatusCodeUnauthorizedGUID,
			types.RmcpStatusCodeInvalidIntegrityCheckValue:
			return ErrAuth, false
		case types.RmcpStatusCodeNoResToCreateSess, types.RmcpStatusCodeNoResToCreateSessAtRole:
			// Session table full: may clear up.
			return ErrNegotiation, true
		}
		return ErrNegotiation, false
	}
	// IPMI 1.5: a bad password fails Activate Session with 85h (go-ipmi's
	// simulator) or 86h (privilege); 81h-83h mean no free session slot. A bad
	// user fails Get Session Challenge with 81h/82h.
	if strings.Contains(msg, "ActivateSession failed") {
		switch {
		case strings.Contains(msg, "cc: 0x85"), strings.Contains(msg, "cc: 0x86"):
			return ErrAuth, false
		case strings.Contains(msg, "cc: 0x81"), strings.Contains(msg, "cc: 0x82"), strings.Contains(msg, "cc: 0x83"):
			return ErrNegotiation, true
		}
	}
	if strings.Contains(msg, "GetSessionChallenge failed") &&
		(strings.Contains(msg, "cc: 0x81") || strings.Contains(msg, "cc: 0x82")) {
		return ErrAuth, false
	}
	if strings.Contains(msg, "SetSessionPrivilegeLevel") && strings.Contains(msg, "cc: ") {
		return ErrAuth, false
	}

	noAnswer := isNoAnswer(err, low)
	if noAnswer && strings.Contains(msg, "Get Channel Authentication Capabilities") {
		return ErrUnreachable, true
	}
	if strings.Contains(low, "connection refused") {
		return ErrUnreachable, true
	}
	if noAnswer {
		return ErrNegotiation, true
	}
	return ErrNegotiation, false
}

func isNoAnswer(err error, low string) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	return strings.Contains(low, "timed out") ||
		strings.Contains(low, "timeout") ||
		strings.Contains(low, "no datagram matched") ||
		strings.Contains(low, "no matching ipmi response") ||
		strings.Contains(low, "deadline exceeded")
}
