package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/iana"

	"github.com/outpostdc/outpost/cmd/internal/lab"
)

// TestDevMode runs outpostd as `make run` does, without root, and checks
// that it says where it listens and answers there.
func TestDevMode(t *testing.T) {
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	linkOrCopy(t, filepath.Join(imagesDir(t), "ipxe", "undionly.kpxe"), filepath.Join(images, "ipxe", "undionly.kpxe"))
	cmd := exec.Command(outpostdBin, "-data", filepath.Join(dir, "data"), "-images", images,
		"-http", "127.0.0.1:0", "-dhcp", "127.0.0.1:0", "-tftp", "127.0.0.1:0")
	p := lab.Start(t, "outpostd", cmd)
	p.WaitOutput(t, 20*time.Second, "outpostd ready")
	out := p.Out.String()
	find := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("output lacks %s:\n%s", re, out)
		}
		return m[1]
	}
	httpAddr := find(`HTTP\s+tcp (127\.0\.0\.1:\d+)`)
	dhcpAddr := find(`DHCP\s+udp (127\.0\.0\.1:\d+)`)
	find(`TFTP\s+udp (127\.0\.0\.1:\d+)`)
	find(`API\s+(http://127\.0\.0\.1:\d+/api/v1/health)`)
	if _, err := os.Stat(filepath.Join(dir, "data", "outpost.db")); err != nil {
		t.Fatalf("no database in the data dir: %v", err)
	}

	if resp, err := http.Get("http://" + httpAddr + "/api/v1/health"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("the API answers without authentication: %v %v", resp, err)
	}
	// The first start made an admin; its password is in the data dir.
	lb := strings.NewReader(`{"user":"admin","password":"` + readPassword(t, filepath.Join(dir, "data")) + `"}`)
	resp, err := http.Post("http://"+httpAddr+"/api/v1/login", "application/json", lb)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("login: %v %v", resp, err)
	}
	var login struct {
		Token string `json:"token"`
	}
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	get := func(path string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", "http://"+httpAddr+path, nil)
		req.Header.Set("Authorization", "Bearer "+login.Token)
		return http.DefaultClient.Do(req)
	}
	resp, err = get("/api/v1/health")
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Status string `json:"status"`
		Site   string `json:"site"`
	}
	json.NewDecoder(resp.Body).Decode(&h)
	resp.Body.Close()
	if h.Status != "ok" || h.Site != "dev" {
		t.Fatalf("health %+v", h)
	}

	// A DISCOVER from loopback is answered back to its sender.
	conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	d := &dhcpv4.DHCPv4{OpCode: dhcpv4.OpcodeBootRequest, HWType: iana.HWTypeEthernet, TransactionID: dhcpv4.TransactionID{1, 2, 3, 4},
		ClientIPAddr: net.IPv4zero, YourIPAddr: net.IPv4zero, ServerIPAddr: net.IPv4zero, GatewayIPAddr: net.IPv4zero,
		ClientHWAddr: net.HardwareAddr{0x52, 0x54, 0, 0, 0, 1}, Options: dhcpv4.Options{}}
	d.UpdateOption(dhcpv4.OptMessageType(dhcpv4.MessageTypeDiscover))
	d.UpdateOption(dhcpv4.OptClassIdentifier("PXEClient:Arch:00000:UNDI:002001"))
	dst, _ := net.ResolveUDPAddr("udp4", dhcpAddr)
	conn.WriteTo(d.ToBytes(), dst)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no DHCP reply: %v", err)
	}
	r, err := dhcpv4.FromBytes(buf[:n])
	if err != nil || r.MessageType() != dhcpv4.MessageTypeOffer || r.BootFileNameOption() != "undionly.kpxe" {
		t.Fatalf("reply %v %v", r, err)
	}

	resp, err = get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(m), `outpost_dhcp_packets_total{result="offer",type="DISCOVER"} 1`) {
		t.Fatalf("metrics do not count the DISCOVER:\n%s", m)
	}
	if err := p.Stop(10 * time.Second); err != nil {
		t.Fatalf("outpostd did not stop cleanly on SIGTERM: %v", err)
	}
}
