package appliance

import (
	"strings"
	"time"
)

// Role is what a user may do.
type Role string

// Roles, weakest first: each may do what the ones before it may.
const (
	RoleViewer     Role = "viewer"     // read everything
	RoleTechnician Role = "technician" // plus operate: jobs, power, freeze, state
	RoleAdmin      Role = "admin"      // plus users, images, policies
)

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleTechnician:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool { return r.rank() > 0 }

// Can reports whether a user with role r may do what needs role need.
func (r Role) Can(need Role) bool { return r.rank() > 0 && r.rank() >= need.rank() }

// User is someone who may use the API.
type User struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"`
	Role      Role      `json:"role"`
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
}

// ValidUserName checks a user name: it appears in the audit log.
func ValidUserName(n string) error {
	if len(n) < 2 || len(n) > 64 {
		return Errorf(CodeInvalid, "user name must be 2 to 64 characters")
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || strings.ContainsRune("._-@", c)) {
			return Errorf(CodeInvalid, "user name %q: use lower-case letters, digits and ._-@", n)
		}
	}
	return nil
}

// ValidPassword sets a floor for passwords.
func ValidPassword(p string) error {
	if len(p) < 10 {
		return Errorf(CodeInvalid, "password must be at least 10 characters")
	}
	if len(p) > 72 {
		return Errorf(CodeInvalid, "password must be at most 72 bytes")
	}
	return nil
}
