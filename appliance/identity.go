package appliance

import "strings"

// JunkSerial reports whether an SMBIOS serial or UUID is a vendor
// placeholder rather than a real identity.
func JunkSerial(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) < 3 {
		return true
	}
	l := strings.ToLower(s)
	for _, j := range []string{
		"to be filled by o.e.m.", "to be filled by oem", "default string", "system serial number",
		"chassis serial number", "base board serial number", "not specified", "not applicable",
		"none", "n/a", "na", "unknown", "o.e.m.", "oem", "serial", "empty", "invalid",
		"0123456789", "123456789", "1234567890", "system product name",
		"03000200-0400-0500-0006-000700080009",
	} {
		if l == j {
			return true
		}
	}
	// One repeated character (000000, XXXXXXX, FFFF-FFFF-...) is no serial.
	same := true
	var first rune = -1
	for _, r := range l {
		if r == '-' || r == ' ' {
			continue
		}
		if first == -1 {
			first = r
		} else if r != first {
			same = false
			break
		}
	}
	return same
}

// IdentityKey picks the natural key of a machine: the system serial, or,
// when that is junk, the SMBIOS UUID, then the chassis serial. ok is false
// when none is usable.
func IdentityKey(systemSerial, uuid, chassisSerial string) (key string, ok bool) {
	if !JunkSerial(systemSerial) {
		return strings.TrimSpace(systemSerial), true
	}
	if !JunkSerial(uuid) {
		return "uuid:" + strings.ToLower(strings.TrimSpace(uuid)), true
	}
	if !JunkSerial(chassisSerial) {
		return "chassis:" + strings.TrimSpace(chassisSerial), true
	}
	return "", false
}
