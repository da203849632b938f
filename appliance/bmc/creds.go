package bmc

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"strconv"
)

// DefaultPort is the RMCP port BMCs listen on.
const DefaultPort = 623

// Creds are the login for one BMC.
//
// Every way of rendering Creds (fmt verbs, slog, JSON, YAML) shows only
// user@host:port; the password leaves this package solely through go-ipmi and
// the CredStore file. Limitation: fmt and reflection-based encoders cannot call
// methods on values held in unexported struct fields, so never embed Creds in
// an unexported field of something that gets printed.
type Creds struct {
	Host     string
	Port     int // 0 means DefaultPort
	User     string
	Password string
}

func (c Creds) port() int {
	if c.Port == 0 {
		return DefaultPort
	}
	return c.Port
}

func (c Creds) hostPort() string { return net.JoinHostPort(c.Host, strconv.Itoa(c.port())) }

// String returns user@host:port.
func (c Creds) String() string { return c.User + "@" + c.hostPort() }

// GoString keeps %#v from dumping the fields.
func (c Creds) GoString() string { return "bmc.Creds{" + strconv.Quote(c.String()) + "}" }

// Format handles every verb, so %v, %+v, %#v, %s, %q, %x all stay redacted.
func (c Creds) Format(f fmt.State, verb rune) {
	switch {
	case verb == 'v' && f.Flag('#'):
		fmt.Fprint(f, c.GoString())
	case verb == 'q':
		fmt.Fprint(f, strconv.Quote(c.String()))
	default:
		fmt.Fprint(f, c.String())
	}
}

// LogValue makes slog print user@host:port.
func (c Creds) LogValue() slog.Value { return slog.StringValue(c.String()) }

// credsView is what API encoders see: no password field at all, so a client
// round-tripping it cannot mistake a placeholder for the real secret.
type credsView struct {
	Host        string `json:"host" yaml:"host"`
	Port        int    `json:"port" yaml:"port"`
	User        string `json:"user" yaml:"user"`
	PasswordSet bool   `json:"password_set" yaml:"password_set"`
}

func (c Creds) view() credsView {
	return credsView{Host: c.Host, Port: c.port(), User: c.User, PasswordSet: c.Password != ""}
}

// MarshalJSON omits the password. The CredStore file uses its own type.
func (c Creds) MarshalJSON() ([]byte, error) { return json.Marshal(c.view()) }

// MarshalYAML omits the password (go.yaml.in/yaml/v3 Marshaler).
func (c Creds) MarshalYAML() (any, error) { return c.view(), nil }
