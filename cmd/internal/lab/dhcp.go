package lab

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"
)

// DORA runs DISCOVER-OFFER-REQUEST-ACK for each MAC through a relay
// address, as a rack's relay would, and calls onAck the moment each ACK
// arrives. conn must be bound to giaddr:67 (the server answers relays
// there). Lost packets and server outages are retried every second until
// ctx ends.
func DORA(ctx context.Context, conn net.PacketConn, server *net.UDPAddr, giaddr net.IP, macs []net.HardwareAddr,
	concurrency int, onAck func(mac net.HardwareAddr, ip net.IP)) error {
	giaddr = giaddr.To4()
	var mu sync.Mutex
	waiting := map[dhcpv4.TransactionID]chan *dhcpv4.DHCPv4{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			p, err := dhcpv4.FromBytes(buf[:n])
			if err != nil {
				continue
			}
			mu.Lock()
			ch := waiting[p.TransactionID]
			mu.Unlock()
			if ch != nil {
				select {
				case ch <- p:
				default:
				}
			}
		}
	}()
	exchange := func(p *dhcpv4.DHCPv4, want dhcpv4.MessageType) *dhcpv4.DHCPv4 {
		ch := make(chan *dhcpv4.DHCPv4, 4)
		mu.Lock()
		waiting[p.TransactionID] = ch
		mu.Unlock()
		defer func() { mu.Lock(); delete(waiting, p.TransactionID); mu.Unlock() }()
		for ctx.Err() == nil {
			conn.WriteTo(p.ToBytes(), server)
			select {
			case r := <-ch:
				if r.MessageType() == want {
					return r
				}
				return nil
			case <-time.After(time.Second):
			case <-ctx.Done():
			}
		}
		return nil
	}
	packet := func(mac net.HardwareAddr, xid dhcpv4.TransactionID, mt dhcpv4.MessageType) *dhcpv4.DHCPv4 {
		d := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, TransactionID: xid,
			ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero, GatewayIPAddr: giaddr,
			ClientHWAddr: mac, Options: dhcpv4.Options{}}
		d.UpdateOption(dhcpv4.OptMessageType(mt))
		return d
	}
	sem := make(chan struct{}, concurrency)
	var wg sync.WaitGroup
	for i, mac := range macs {
		sem <- struct{}{}
		wg.Add(1)
		go func(i int, mac net.HardwareAddr) {
			defer func() { <-sem; wg.Done() }()
			for round := byte(0); ctx.Err() == nil; round += 2 {
				xid := dhcpv4.TransactionID{byte(i >> 16), byte(i >> 8), byte(i), round}
				off := exchange(packet(mac, xid, dhcpv4.MessageTypeDiscover), dhcpv4.MessageTypeOffer)
				if off == nil {
					continue
				}
				xid[3] = round + 1
				r := packet(mac, xid, dhcpv4.MessageTypeRequest)
				r.UpdateOption(dhcpv4.OptServerIdentifier(off.ServerIdentifier()))
				r.UpdateOption(dhcpv4.OptRequestedIPAddress(off.YourIPAddr))
				if ack := exchange(r, dhcpv4.MessageTypeAck); ack != nil {
					onAck(mac, ack.YourIPAddr)
					return
				}
			}
		}(i, mac)
	}
	wg.Wait()
	return ctx.Err()
}
