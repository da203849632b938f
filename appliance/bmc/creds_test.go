package bmc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

const leakPassword = "Tr0ub4dor&3-zebra"

func TestCredsNeverPrintPassword(t *testing.T) {
	c := Creds{Host: "10.1.2.3", Port: 6230, User: "admin", Password: leakPassword}
	const want = "admin@10.1.2.3:6230"

	type wrapper struct {
		C   Creds
		P   *Creds
		All []Creds
		M   map[string]Creds
	}
	w := wrapper{C: c, P: &c, All: []Creds{c}, M: map[string]Creds{"x": c}}

	for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%T %v"} {
		for name, arg := range map[string]any{"value": c, "pointer": &c, "wrapped": w, "wrapped ptr": &w} {
			out := fmt.Sprintf(format, arg)
			if strings.Contains(out, leakPassword) {
				t.Errorf("fmt %s of %s leaks: %s", format, name, out)
			}
			if name == "value" && format != "%T %v" && format != "%x" && format != "%X" && format != "%d" && !strings.Contains(out, want) {
				t.Errorf("fmt %s = %q; want it to show %s", format, out, want)
			}
		}
	}
	if got := c.String(); got != want {
		t.Errorf("String = %q", got)
	}
	if got := fmt.Sprintf("%v", Creds{Host: "h", User: "u"}); got != "u@h:623" {
		t.Errorf("default port: %q", got)
	}
	if got := fmt.Sprintf("%v", Creds{Host: "fe80::1", Port: 623, User: "u"}); got != "u@[fe80::1]:623" {
		t.Errorf("IPv6: %q", got)
	}

	var text, js bytes.Buffer
	for _, h := range []slog.Handler{slog.NewTextHandler(&text, nil), slog.NewJSONHandler(&js, nil)} {
		l := slog.New(h)
		l.Info("creds", "c", c, "p", &c)
		l.Info("group", slog.Group("g", "c", c))
		l.With("c", c).Info("with")
	}
	for name, out := range map[string]string{"text": text.String(), "json": js.String()} {
		if strings.Contains(out, leakPassword) {
			t.Errorf("slog %s leaks: %s", name, out)
		}
		if !strings.Contains(out, want) {
			t.Errorf("slog %s lacks %s: %s", name, want, out)
		}
	}

	for name, v := range map[string]any{"value": c, "pointer": &c, "wrapped": w} {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(leakPassword)) || bytes.Contains(bytes.ToLower(b), []byte(`"password"`)) {
			t.Errorf("json.Marshal %s leaks: %s", name, b)
		}
	}
	b, _ := json.Marshal(c)
	if string(b) != `{"host":"10.1.2.3","port":6230,"user":"admin","password_set":true}` {
		t.Errorf("json = %s", b)
	}
	y, err := c.MarshalYAML()
	if err != nil || strings.Contains(fmt.Sprintf("%#v", y), leakPassword) {
		t.Errorf("MarshalYAML leaks: %#v", y)
	}
}

func TestClientDoesNotPrintCreds(t *testing.T) {
	c := &Client{creds: Creds{Host: "h", User: "u", Password: leakPassword}}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if out := fmt.Sprintf(f, c); strings.Contains(out, leakPassword) {
			t.Errorf("%s of *Client leaks: %s", f, out)
		}
	}
}

func TestRedactor(t *testing.T) {
	r := redactor("p")
	// Replacing matches would reveal the password; the text is withheld.
	if got := r.text(errors.New("Get Channel Authentication Capabilities failed")); strings.Contains(got, "Ca") {
		t.Errorf("text = %q", got)
	}
	if got := redactor(leakPassword).text(errors.New("bad\n  thing")); got != "bad thing" {
		t.Errorf("text = %q", got)
	}
	if got := redactor(leakPassword).text(fmt.Errorf("wrapped %s here", leakPassword)); strings.Contains(got, leakPassword) {
		t.Errorf("text = %q", got)
	}
	if got := redactor("").text(errors.New("x")); got != "x" {
		t.Errorf("empty password: %q", got)
	}
}
