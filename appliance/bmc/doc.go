// Package bmc drives server BMCs over IPMI LAN (github.com/bougou/go-ipmi):
// power control with verification, next-boot device with readback
// verification, and a private on-disk credential store.
//
// Connections try RMCP+ cipher suite 17, then 3, then IPMI 1.5, remembering
// per host what worked (see Dialer). Cipher suites are always named
// explicitly: go-ipmi's automatic probing costs about 4 s per connection.
//
// Nothing here prints, logs or marshals a password: Creds renders as
// user@host:port and errors are built from redacted text.
package bmc
