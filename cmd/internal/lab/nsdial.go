package lab

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"

	"github.com/vishvananda/netns"
)

// InNS runs fn on an OS thread switched into a network namespace. A
// socket made there belongs to that namespace for good, so the test
// process can talk to hosts inside namespaces without a helper process.
func InNS(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		target, err := netns.GetFromName(ns)
		if err != nil {
			errc <- fmt.Errorf("namespace %s: %w", ns, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- err
			return
		}
		ferr := fn()
		// A thread that cannot go back stays locked and dies with its
		// goroutine, rather than running other code in the wrong place.
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		errc <- ferr
	}()
	return <-errc
}

// DialIn returns a dialer that opens connections inside namespace ns.
func DialIn(ns string) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		var c net.Conn
		err := InNS(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
			return err
		})
		return c, err
	}
}

// ListenPacketIn opens a UDP socket inside namespace ns.
func ListenPacketIn(ns, network, addr string) (net.PacketConn, error) {
	var c net.PacketConn
	err := InNS(ns, func() error {
		var err error
		c, err = net.ListenPacket(network, addr)
		return err
	})
	return c, err
}

// ListenIn opens a TCP listener inside namespace ns.
func ListenIn(ns, addr string) (net.Listener, error) {
	var l net.Listener
	err := InNS(ns, func() error {
		var err error
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// HTTPIn is an HTTP client whose connections are made inside ns.
func HTTPIn(ns string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: DialIn(ns), MaxIdleConnsPerHost: 16}}
}
