package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/bmc"
	"github.com/outpostdc/outpost/appliance/sqlite"
	"github.com/outpostdc/outpost/recon"
)

type agentFixture struct {
	ts    *httptest.Server
	st    *sqlite.Store
	creds *bmc.CredStore
	dir   string
	logs  *bytes.Buffer
}

func newAgentAPI(t *testing.T) *agentFixture {
	t.Helper()
	dir := t.TempDir()
	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "outpost.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	creds, err := bmc.NewCredStore(filepath.Join(dir, "bmc.json"))
	if err != nil {
		t.Fatal(err)
	}
	logs := &bytes.Buffer{}
	a := &Agent{Store: st, Log: slog.New(slog.NewTextHandler(logs, nil)), AgentTTL: time.Hour, PollSeconds: 5,
		Enroll: &EnrollConfig{User: "outpost", UserID: 3}, Creds: creds}
	mux := http.NewServeMux()
	a.Register(mux)
	api := &Server{Store: st, Log: a.Log, Started: time.Now()}
	mux.Handle("/api/", api.Handler())
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	return &agentFixture{ts: ts, st: st, creds: creds, dir: dir, logs: logs}
}

func (f *agentFixture) do(t *testing.T, method, path, token string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.ts.URL+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func testReport(mac string) recon.Report {
	return recon.Report{Version: recon.ReportVersion, BootMAC: mac,
		System: recon.System{Serial: "SN-API-1", UUID: "6f9619ff-8b86-d011-b42d-00c04fc964ff"},
		CPU:    recon.CPU{Sockets: 1, Cores: 4, Threads: 8}, Memory: recon.Memory{TotalBytes: 8 << 30},
		NICs: []recon.NIC{{Name: "eth0", MAC: mac, Booted: true}}}
}

func TestAgentReportFlow(t *testing.T) {
	f := newAgentAPI(t)
	ctx := context.Background()
	const mac = "52:54:00:0a:00:01"
	tok, _ := f.st.IssueToken(ctx, sqlite.Token{MAC: mac, Purpose: "recon", Expires: time.Now().Add(time.Hour)})

	// BMC enrolment: the password is handed out once, for this boot.
	code, body := f.do(t, "GET", recon.PathEnrollment+"?mac="+mac, tok, nil)
	var e recon.Enrollment
	if code != 200 || json.Unmarshal(body, &e) != nil || e.User != "outpost" || len(e.Password) < 16 {
		t.Fatalf("enrollment: %d %s", code, body)
	}
	if code, _ := f.do(t, "GET", recon.PathEnrollment+"?mac=52:54:00:0a:00:09", tok, nil); code != 401 {
		t.Fatalf("enrollment for another MAC: %d", code)
	}

	rep := testReport(mac)
	rep.BMC = &recon.BMC{IP: "10.9.9.9", Enrolled: true}
	b, _ := json.Marshal(rep)
	code, body = f.do(t, "POST", recon.PathReport, tok, b)
	var reply recon.ReportReply
	if code != 200 || json.Unmarshal(body, &reply) != nil || reply.AgentToken == "" || reply.State != "ready" {
		t.Fatalf("report: %d %s", code, body)
	}
	c, err := f.creds.Get(reply.MachineID)
	if err != nil || c.Host != "10.9.9.9" || c.User != "outpost" || c.Password != e.Password {
		t.Fatalf("stored creds %v %v", c, err)
	}
	st, _ := os.Stat(filepath.Join(f.dir, "bmc.json"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file mode %v", st.Mode())
	}
	// The password appears in no API output and no log.
	_, mbody := f.do(t, "GET", "/api/v1/machines/1", "", nil)
	_, abody := f.do(t, "GET", "/api/v1/audit", "", nil)
	for where, s := range map[string]string{"machine": string(mbody), "audit": string(abody), "log": f.logs.String(), "reply": string(body)} {
		if strings.Contains(s, e.Password) {
			t.Fatalf("BMC password leaked in %s", where)
		}
	}

	code, body = f.do(t, "GET", recon.PathNext, reply.AgentToken, nil)
	var n recon.Next
	if code != 200 || json.Unmarshal(body, &n) != nil || n.Action != "wait" || n.PollSeconds != 5 {
		t.Fatalf("next: %d %s", code, body)
	}
	m, _ := f.st.Machine(ctx, reply.MachineID)
	if m.LastSeen.IsZero() {
		t.Fatal("next did not record a heartbeat")
	}
	// A late report with the agent token updates the same machine.
	rep.LLDP = []recon.LLDP{{Interface: "eth0", ChassisID: "aa:bb:cc:dd:ee:ff", PortID: "Ethernet12", SystemName: "tor-r12"}}
	b, _ = json.Marshal(rep)
	if code, body := f.do(t, "POST", recon.PathReport, reply.AgentToken, b); code != 200 {
		t.Fatalf("late report: %d %s", code, body)
	}
	if ms, _ := f.st.Machines(ctx, appliance.MachineFilter{}); len(ms) != 1 {
		t.Fatalf("%d machines", len(ms))
	}
}

func TestAgentReportRefusals(t *testing.T) {
	f := newAgentAPI(t)
	ctx := context.Background()
	const mac = "52:54:00:0a:00:02"
	good, _ := f.st.IssueToken(ctx, sqlite.Token{MAC: mac, Purpose: "recon", Expires: time.Now().Add(time.Hour)})
	expired, _ := f.st.IssueToken(ctx, sqlite.Token{MAC: mac, Purpose: "recon", Expires: time.Now().Add(-time.Minute)})
	other, _ := f.st.IssueToken(ctx, sqlite.Token{MAC: "52:54:00:0a:00:03", Purpose: "recon", Expires: time.Now().Add(time.Hour)})
	ok, _ := json.Marshal(testReport(mac))
	huge := bytes.Repeat([]byte(" "), appliance.MaxReportBytes+10)
	for _, tc := range []struct {
		name string
		tok  string
		body []byte
		code int
	}{
		{"no token", "", ok, 401},
		{"forged token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", ok, 401},
		{"expired token", expired, ok, 401},
		{"token of another MAC", other, ok, 401},
		{"malformed JSON", good, []byte(`{"version":1,`), 400},
		{"unknown field", good, []byte(`{"version":1,"boot_mac":"` + mac + `","surprise":1}`), 400},
		{"oversized", good, huge, 400},
	} {
		if code, body := f.do(t, "POST", recon.PathReport, tc.tok, tc.body); code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, code, body, tc.code)
		}
	}
	if ms, _ := f.st.Machines(ctx, appliance.MachineFilter{}); len(ms) != 0 {
		t.Fatalf("refused reports stored %d machines", len(ms))
	}
	if code, _ := f.do(t, "POST", recon.PathReport, good, ok); code != 200 {
		t.Fatalf("good token after refusals: %d", code)
	}
	if code, _ := f.do(t, "POST", recon.PathReport, good, ok); code != 401 {
		t.Fatalf("replay: %d", code)
	}
	if code, _ := f.do(t, "GET", recon.PathNext, good, nil); code != 401 {
		t.Fatalf("a boot token is not an agent token: %d", code)
	}
}
