package lab

import (
	"context"
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// DelayProxy forwards TCP connections accepted inside namespace ns on
// listen to target (dialled from inside ns too), holding every chunk back
// by delay in each direction: a long WAN, for kernels without netem.
type DelayProxy struct {
	Addr  string
	delay time.Duration
	ln    net.Listener
	wg    sync.WaitGroup
}

// StartDelayProxy starts a proxy; it stops when the test ends.
func StartDelayProxy(t testing.TB, ns, listen, target string, delay time.Duration) *DelayProxy {
	t.Helper()
	ln, err := ListenIn(ns, listen)
	if err != nil {
		t.Fatal(err)
	}
	p := &DelayProxy{Addr: ln.Addr().String(), delay: delay, ln: ln}
	dial := DialIn(ns)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				defer c.Close()
				u, err := dial(context.Background(), "tcp", target)
				if err != nil {
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				go func() { p.pipe(u, c); done <- struct{}{} }()
				go func() { p.pipe(c, u); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

type chunk struct {
	b  []byte
	at time.Time
}

// pipe copies src to dst, each chunk no earlier than delay after it was
// read, in order.
func (p *DelayProxy) pipe(dst, src net.Conn) {
	q := make(chan chunk, 1024)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{buf[:n], time.Now().Add(p.delay)}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.b); err != nil {
			break
		}
	}
	if tc, ok := dst.(*net.TCPConn); ok {
		tc.CloseWrite()
	} else {
		io.Copy(io.Discard, src)
	}
}

// Lossy drops a share of the packets entering and leaving dev inside ns,
// with nftables' random number generator: a lossy WAN, for kernels
// without netem.
func Lossy(t testing.TB, ns, dev string, percent int) {
	t.Helper()
	RequireCmd(t, "nft")
	table := "outpost_lossy_" + dev
	Run(t, "ip", "netns", "exec", ns, "nft", "add", "table", "inet", table)
	for _, hook := range []string{"input", "output"} {
		dir := "iifname"
		if hook == "output" {
			dir = "oifname"
		}
		Run(t, "ip", "netns", "exec", ns, "nft", "add", "chain", "inet", table, hook, "{ type filter hook "+hook+" priority 0 ; }")
		Run(t, "ip", "netns", "exec", ns, "nft", "add", "rule", "inet", table, hook, dir, dev, "numgen", "random", "mod", "100", "<",
			strconv.Itoa(percent), "drop")
	}
}

// Healthy removes Lossy's rules.
func Healthy(t testing.TB, ns, dev string) {
	t.Helper()
	Run(t, "ip", "netns", "exec", ns, "nft", "delete", "table", "inet", "outpost_lossy_"+dev)
}
