package recon

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// ErrLLDPTimeout is returned when no LLDP neighbour spoke in time.
const ErrLLDPTimeout = constError("lldp: no neighbour heard")

// ListenLLDP waits on iface for the first LLDP frame from a neighbour and
// parses it. Switches send one every 30 s by default, so timeout should
// be above that. It needs CAP_NET_RAW.
func ListenLLDP(ctx context.Context, iface string, timeout time.Duration) (LLDP, error) {
	ifi, err := net.InterfaceByName(iface)
	if err != nil {
		return LLDP{}, fmt.Errorf("lldp: %w", err)
	}
	proto := htons(EtherTypeLLDP)
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, int(proto))
	if err != nil {
		return LLDP{}, fmt.Errorf("lldp: socket: %w", err)
	}
	// os.File takes the fd into the runtime poller, for deadlines.
	f := os.NewFile(uintptr(fd), "lldp-"+iface)
	defer f.Close()
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: proto, Ifindex: ifi.Index}); err != nil {
		return LLDP{}, fmt.Errorf("lldp: bind %s: %w", iface, err)
	}
	// The LLDP group address is not one a NIC accepts by default.
	mreq := unix.PacketMreq{Ifindex: int32(ifi.Index), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], []byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e})
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return LLDP{}, fmt.Errorf("lldp: join group on %s: %w", iface, err)
	}

	deadline := time.Now().Add(timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := f.SetReadDeadline(deadline); err != nil {
		return LLDP{}, fmt.Errorf("lldp: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { _ = f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()

	rc, err := f.SyscallConn()
	if err != nil {
		return LLDP{}, fmt.Errorf("lldp: %w", err)
	}
	buf := make([]byte, 9216) // a jumbo frame
	for {
		var n int
		var from unix.Sockaddr
		var rerr error
		err := rc.Read(func(fd uintptr) bool {
			n, from, rerr = unix.Recvfrom(int(fd), buf, 0)
			return rerr != unix.EAGAIN
		})
		if err == nil {
			err = rerr
		}
		switch {
		case ctx.Err() != nil:
			return LLDP{}, fmt.Errorf("lldp on %s: %w", iface, ctx.Err())
		case errors.Is(err, os.ErrDeadlineExceeded):
			return LLDP{}, fmt.Errorf("%w on %s within %s", ErrLLDPTimeout, iface, timeout)
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return LLDP{}, fmt.Errorf("lldp: read %s: %w", iface, err)
		}
		// Our own frames, should anything here send LLDP, are no neighbour.
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		l, err := ParseLLDPFrame(buf[:n])
		if err != nil {
			continue // a malformed frame: wait for the next one
		}
		l.Interface = clean(iface)
		return l, nil
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }
