// Package ra sends IPv6 router advertisements that carry no prefix and a
// router lifetime of 0. iPXE waits about 13 s for IPv6 autoconfiguration
// when it hears no router; such an advertisement ends the wait at once
// without giving anyone an IPv6 route.
package ra

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/mdlayher/ndp"
	"golang.org/x/net/ipv6"
)

// Sender advertises on one interface.
type Sender struct {
	Interface string
	Log       *slog.Logger
	// Interval between unsolicited advertisements; solicitations are
	// answered at once.
	Interval time.Duration
}

// Run advertises until ctx is done.
func (s *Sender) Run(ctx context.Context) error {
	if s.Interval <= 0 {
		s.Interval = 10 * time.Second
	}
	ifi, err := net.InterfaceByName(s.Interface)
	if err != nil {
		return fmt.Errorf("ra: %w", err)
	}
	var c *ndp.Conn
	// The link-local address may still be in duplicate address detection.
	for i := 0; ; i++ {
		c, _, err = ndp.Listen(ifi, ndp.LinkLocal)
		if err == nil {
			break
		}
		if i == 30 {
			return fmt.Errorf("ra: listen on %s: %w", s.Interface, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	var f ipv6.ICMPFilter
	f.SetAll(true)
	f.Accept(ipv6.ICMPTypeRouterSolicitation)
	if err := c.SetICMPFilter(&f); err != nil {
		return fmt.Errorf("ra: %w", err)
	}
	if err := c.JoinGroup(netip.MustParseAddr("ff02::2")); err != nil {
		return fmt.Errorf("ra: join all-routers: %w", err)
	}
	msg := &ndp.RouterAdvertisement{
		CurrentHopLimit: 64,
		RouterLifetime:  0,
		Options:         []ndp.Option{&ndp.LinkLayerAddress{Direction: ndp.Source, Addr: ifi.HardwareAddr}},
	}
	all := netip.MustParseAddr("ff02::1")
	send := func() {
		if err := c.WriteTo(msg, nil, all); err != nil && ctx.Err() == nil {
			s.Log.Debug("ra: send failed", "err", err)
		}
	}
	solicited := make(chan struct{}, 1)
	go func() {
		for {
			m, _, _, err := c.ReadFrom()
			if err != nil {
				return
			}
			if _, ok := m.(*ndp.RouterSolicitation); ok {
				select {
				case solicited <- struct{}{}:
				default:
				}
			}
		}
	}()
	t := time.NewTicker(s.Interval)
	defer t.Stop()
	send()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			send()
		case <-solicited:
			send()
		}
	}
}
