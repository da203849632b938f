package appliance

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ProvisionSpec is what an HQ provisioning request asks of a site: N
// machines of a role, by hardware class or by minimum spec, named by a
// pattern, installed with an image.
type ProvisionSpec struct {
	Count           int    `json:"count"`
	Role            string `json:"role"`
	Class           string `json:"hw_class,omitempty"`
	MinCores        int    `json:"min_cpus,omitempty"`
	MinMemoryGiB    int    `json:"min_memory_gib,omitempty"`
	HostnamePattern string `json:"hostname_pattern"`
	Image           string `json:"image"`
}

// Check validates a spec.
func (p ProvisionSpec) Check() error {
	switch {
	case p.Count < 1 || p.Count > 10000:
		return Errorf(CodeInvalid, "count must be 1 to 10000")
	case p.Role == "":
		return Errorf(CodeInvalid, "role is required")
	case p.Image == "":
		return Errorf(CodeInvalid, "image is required")
	case p.Class == "" && p.MinCores == 0 && p.MinMemoryGiB == 0:
		return Errorf(CodeInvalid, "a hardware class or a minimum spec (min_cpus, min_memory_gib) is required")
	}
	if _, err := ExpandHostname(p.HostnamePattern, 1, p.Role); err != nil {
		return err
	}
	return nil
}

// ClassSpec is what a hardware class says: sockets, cores per socket and
// memory, as recon.Class writes them ("2x16c-256g-2xnvme960").
type ClassSpec struct {
	Sockets, CoresPerSocket, MemoryGiB int
}

// ParseClass reads the CPU and memory part of a hardware class.
func ParseClass(class string) (ClassSpec, bool) {
	parts := strings.Split(class, "-")
	if len(parts) < 2 {
		return ClassSpec{}, false
	}
	var c ClassSpec
	if _, err := fmt.Sscanf(parts[0], "%dx%dc", &c.Sockets, &c.CoresPerSocket); err != nil {
		return ClassSpec{}, false
	}
	mem := strings.TrimSuffix(parts[1], "g")
	n, err := strconv.Atoi(mem)
	if err != nil || mem == parts[1] {
		return ClassSpec{}, false
	}
	c.MemoryGiB = n
	return c, true
}

// Cores is the total core count.
func (c ClassSpec) Cores() int { return c.Sockets * c.CoresPerSocket }

// Fits reports whether a machine of class fits the spec.
func (p ProvisionSpec) Fits(class string) bool {
	if p.Class != "" {
		return class == p.Class
	}
	c, ok := ParseClass(class)
	return ok && c.Cores() >= p.MinCores && c.MemoryGiB >= p.MinMemoryGiB
}

// PickMachines chooses up to need machines from ready ones for a spec,
// best fit first: the smallest that satisfies it, so that big machines
// stay for requests that need them. short says why fewer were found.
func PickMachines(p ProvisionSpec, ready []Machine, need int) (picked []Machine, short string) {
	var fit []Machine
	for _, m := range ready {
		if m.State == StateReady && p.Fits(m.Class) {
			fit = append(fit, m)
		}
	}
	sort.SliceStable(fit, func(i, j int) bool {
		a, _ := ParseClass(fit[i].Class)
		b, _ := ParseClass(fit[j].Class)
		if a.Cores() != b.Cores() {
			return a.Cores() < b.Cores()
		}
		if a.MemoryGiB != b.MemoryGiB {
			return a.MemoryGiB < b.MemoryGiB
		}
		return fit[i].ID < fit[j].ID
	})
	if len(fit) > need {
		fit = fit[:need]
	}
	if len(fit) < need {
		what := "class " + p.Class
		if p.Class == "" {
			what = fmt.Sprintf("at least %d cores and %d GiB", p.MinCores, p.MinMemoryGiB)
		}
		short = fmt.Sprintf("not enough ready machines of %s: need %d more, %d ready", what, need, len(fit))
	}
	return fit, short
}

// ExpandHostname fills a pattern: {n} (or {n:03} for zero padding) is the
// machine's number in the request, {role} its role. The result must be a
// valid host name.
func ExpandHostname(pattern string, n int, role string) (string, error) {
	if pattern == "" {
		pattern = "{role}-{n:02}"
	}
	re := regexp.MustCompile(`\{n(?::0(\d))?\}`)
	if !re.MatchString(pattern) {
		return "", Errorf(CodeInvalid, "hostname_pattern %q must contain {n}", pattern)
	}
	out := re.ReplaceAllStringFunc(pattern, func(m string) string {
		width := 0
		if sm := re.FindStringSubmatch(m); sm[1] != "" {
			width, _ = strconv.Atoi(sm[1])
		}
		return fmt.Sprintf("%0*d", width, n)
	})
	out = strings.ReplaceAll(out, "{role}", role)
	if !validHostname(out) {
		return "", Errorf(CodeInvalid, "hostname_pattern %q gives %q, which is not a valid host name", pattern, out)
	}
	return out, nil
}

func validHostname(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, l := range strings.Split(h, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}

// JobIntentConflict decides whether a job HQ asks for contradicts the
// machine's local state. Local facts win; the answer says why, for the
// conflict record.
func JobIntentConflict(m Machine, action JobAction, busyJob int64) (string, bool) {
	switch {
	case m.State == StateFrozen:
		return fmt.Sprintf("machine is frozen locally (%s); HQ asked for %s", m.StateReason, action), true
	case m.State == StateBroken && action != ActionRecycle && action != ActionPower:
		return fmt.Sprintf("machine is broken locally (%s); HQ asked for %s", m.StateReason, action), true
	case busyJob > 0:
		return fmt.Sprintf("machine is busy with local job %d; HQ asked for %s", busyJob, action), true
	}
	return "", false
}
