package bmc

import (
	"fmt"
	"strings"
	"time"
)

// Error is a sentinel error; match with errors.Is.
type Error string

func (e Error) Error() string { return string(e) }

const (
	// ErrAuth: the BMC rejected the user name, password or privilege.
	ErrAuth Error = "bmc: authentication rejected (check user name, password and privilege)"
	// ErrUnreachable: the BMC never answered.
	ErrUnreachable Error = "bmc: BMC did not respond"
	// ErrNegotiation: the BMC answered but accepted none of our connection methods.
	ErrNegotiation Error = "bmc: BMC accepted none of the connection methods"
	// ErrNotApplied: a power change was accepted but the state never changed.
	ErrNotApplied Error = "bmc: BMC accepted the change but it did not take"
	// ErrReadback: a boot option change could not be verified by reading it back.
	ErrReadback Error = "bmc: boot option readback does not match"
	// ErrClosed: the Client was closed.
	ErrClosed Error = "bmc: client closed"
	// ErrInvalid: bad argument.
	ErrInvalid Error = "bmc: invalid argument"
	// ErrNotFound: CredStore has no entry for the machine.
	ErrNotFound Error = "bmc: no credentials stored for machine"
	// ErrInsecureFile: the credentials file has unsafe ownership or mode.
	ErrInsecureFile Error = "bmc: credentials file is not private"
)

// Attempt records one connection attempt. Err is already redacted: it never
// holds the password, and it is text rather than the go-ipmi error so nothing
// downstream can dig a secret out of a wrapped value.
type Attempt struct {
	Round    int
	Strategy Strategy
	Elapsed  time.Duration
	Kind     error // one of ErrAuth, ErrUnreachable, ErrNegotiation, or a context error
	Err      string
}

func (a Attempt) String() string {
	return fmt.Sprintf("round %d %s (%s): %s", a.Round, a.Strategy, a.Elapsed.Round(time.Millisecond), a.Err)
}

// ConnectError says which attempts were made against which BMC and why each
// failed. It carries user@host:port, never the password.
type ConnectError struct {
	Target   string // user@host:port
	Kind     error  // decisive failure kind (a sentinel above, or a context error)
	Attempts []Attempt
}

func (e *ConnectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "bmc: connect %s failed: %s; %d attempt(s):", e.Target, kindText(e.Kind), len(e.Attempts))
	for i, a := range e.Attempts {
		fmt.Fprintf(&b, " [%d] %s;", i+1, a)
	}
	return strings.TrimSuffix(b.String(), ";")
}

func (e *ConnectError) Unwrap() error { return e.Kind }

func kindText(k error) string {
	if s, ok := k.(Error); ok {
		return strings.TrimPrefix(string(s), "bmc: ")
	}
	if k == nil {
		return "unknown"
	}
	return k.Error()
}

// redactor keeps a secret out of text from third-party errors. go-ipmi does
// not put the password in errors today; this keeps it that way if it starts.
// The whole text is withheld rather than the match replaced: replacing would
// reveal a short password that merely happens to occur in the text.
type redactor string

func (r redactor) text(err error) string {
	if err == nil {
		return ""
	}
	s := strings.Join(strings.Fields(err.Error()), " ")
	if r != "" && strings.Contains(s, string(r)) {
		return "(error text withheld: it contains the password)"
	}
	return s
}

// opError wraps a failure of a BMC command with redacted text.
type opError struct {
	op     string
	target string
	msg    string
	kind   error
}

func (e *opError) Error() string {
	return fmt.Sprintf("bmc: %s on %s: %s", e.op, e.target, e.msg)
}

func (e *opError) Unwrap() error { return e.kind }
