package main

import (
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// The DHCP socket's receive buffer must hold a burst: past
// net.core.rmem_max as root (CI runs as root), up to it otherwise.
func TestDHCPReadBuffer(t *testing.T) {
	pc, err := listenDHCP("", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	rc, err := pc.(*net.UDPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var got int
	var gerr error
	rc.Control(func(fd uintptr) { got, gerr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	want := dhcpReadBuffer
	if os.Geteuid() != 0 {
		b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			t.Fatal(err)
		}
		max, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			t.Fatal(err)
		}
		want = min(want, max)
	}
	// The kernel reports twice what was set, for its bookkeeping.
	if got < want {
		t.Fatalf("SO_RCVBUF = %d, want at least %d", got, want)
	}
}
