package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/outpostdc/outpost/appliance/bmc/bmcsim"
	"github.com/outpostdc/outpost/cmd/internal/lab"
	"github.com/outpostdc/outpost/recon"
)

// requestView is the part of a request's progress the test reads, at the
// site and in HQ's copy.
type requestView struct {
	ID        int64  `json:"id"`
	Status    string `json:"status"`
	Allocated int    `json:"allocated"`
	Done      int    `json:"done"`
	Failed    int    `json:"failed"`
}

// TestRequestDuringCut: a request for three machines reaches the site,
// the WAN is cut, and the site fulfils it alone, replacing a machine
// whose install fails. HQ learns of the completion after the heal.
func TestRequestDuringCut(t *testing.T) {
	h := newHQ(t)
	s := h.newSite(t, 1, "", "")
	// Five ready machines of the class, each behind its own simulated BMC
	// inside the site's namespace.
	type machine struct {
		id    int64
		token string
	}
	var ms []machine
	for k := 0; k < 5; k++ {
		var sim *bmcsim.Sim
		if err := lab.InNS(s.net.NS, func() (err error) { sim, err = bmcsim.Start(bmcsim.Options{}); return err }); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(sim.Close)
		id, tok := s.ingest(t, fmt.Sprintf("RQ-SN%d", k), fmt.Sprintf("52:54:00:aa:00:%02x", k), "1x16c-64g")
		if code := s.call(t, "PUT", fmt.Sprintf("/api/v1/machines/%d/bmc", id),
			map[string]any{"host": sim.Host, "port": sim.Port, "user": bmcsim.User, "password": bmcsim.Password}, nil); code != 204 {
			t.Fatalf("bmc credentials: %d", code)
		}
		ms = append(ms, machine{id, tok})
	}
	// The image the request names, in the site's store.
	if code := s.upload(t, "/api/v1/images?name=debian&version=12&format=raw", []byte("a tiny disk image\n")); code != 201 && code != 200 {
		t.Fatalf("image upload: %d", code)
	}
	lab.WaitFor(t, time.Minute, "site connected", func() bool { return s.sync(t).Connected })
	var created struct {
		ID int64 `json:"id"`
	}
	if code := h.call(t, "POST", "/api/v1/requests", map[string]any{"site": s.id, "count": 3, "role": "fancydb",
		"hw_class": "1x16c-64g", "hostname_pattern": "fancydb-{n:02}", "image": "debian:12"}, &created); code != 201 {
		t.Fatalf("request: %d", code)
	}
	siteRequest := func() (r requestView) {
		var out struct {
			Requests []requestView `json:"requests"`
		}
		s.call(t, "GET", "/api/v1/requests", nil, &out)
		for _, x := range out.Requests {
			if x.ID == created.ID {
				r = x
			}
		}
		return r
	}
	lab.WaitFor(t, time.Minute, "the request reaches the site", func() bool { return siteRequest().Allocated == 3 })
	t.Logf("at the site before the cut: %+v", siteRequest())
	h.cut(t, s)
	lab.WaitFor(t, time.Minute, "the site sees the partition", func() bool { return !s.sync(t).Connected })
	// The agents: each machine's recon asks what to do; the second
	// machine to get an install fails it.
	installs := 0
	deadline := time.Now().Add(2 * time.Minute)
	for siteRequest().Status != "complete" {
		if time.Now().After(deadline) {
			var jobs json.RawMessage
			s.call(t, "GET", "/api/v1/jobs", nil, &jobs)
			t.Fatalf("the request did not complete during the cut: %+v\njobs: %s", siteRequest(), jobs)
		}
		for _, m := range ms {
			var next recon.Next
			if code := doJSON(t, s.http, "GET", s.base+recon.PathNext, m.token, nil, &next); code != 200 {
				t.Fatalf("next for machine %d: %d", m.id, code)
			}
			if next.Action != "job" || next.Job == nil || next.Job.Action != "install" {
				continue
			}
			installs++
			path := func(p string) string { return s.base + strings.Replace(p, "{id}", fmt.Sprint(next.Job.ID), 1) }
			if code := doJSON(t, s.http, "POST", path(recon.PathJobProgress), m.token,
				recon.JobProgress{Phase: "write", Done: 9, Total: 18, Percent: 50}, nil); code/100 != 2 {
				t.Fatalf("progress: %d", code)
			}
			res := recon.JobResult{OK: true, Summary: "written and verified"}
			if installs == 2 {
				res = recon.JobResult{Error: "disk /dev/sda: I/O error"}
			}
			if code := doJSON(t, s.http, "POST", path(recon.PathJobResult), m.token, res, nil); code/100 != 2 {
				t.Fatalf("result: %d", code)
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	r := siteRequest()
	if r.Done != 3 || r.Failed != 1 || installs != 4 {
		t.Fatalf("during the cut: %+v after %d installs", r, installs)
	}
	if st := s.sync(t); st.Connected {
		t.Fatalf("the link was cut, yet %+v", st)
	}
	t.Logf("request %d complete during the cut: %+v", created.ID, r)
	// HQ has not heard yet; after the heal it has.
	hqRequest := func() (r requestView) {
		var out struct {
			Requests []struct {
				ID       int64           `json:"id"`
				Progress json.RawMessage `json:"progress"`
			} `json:"requests"`
		}
		h.call(t, "GET", "/api/v1/requests?site="+s.id, nil, &out)
		for _, x := range out.Requests {
			if x.ID == created.ID && len(x.Progress) > 0 {
				json.Unmarshal(x.Progress, &r)
			}
		}
		return r
	}
	if got := hqRequest(); got.Status == "complete" {
		t.Fatalf("HQ knew of the completion through a cut link: %+v", got)
	}
	h.heal(t, s)
	lab.WaitFor(t, time.Minute, "HQ sees the request complete", func() bool {
		got := hqRequest()
		return got.Status == "complete" && got.Done == 3 && got.Failed == 1
	})
	converged(t, h, []*siteLab{s}, time.Minute)
}

// upload posts raw bytes to the site's API.
func (s *siteLab) upload(t *testing.T, path string, body []byte) int {
	t.Helper()
	req, _ := http.NewRequest("POST", s.base+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+s.token)
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
