package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// credentials is ~/.config/outpost/credentials.json: one token per URL.
type credentials struct {
	// Current is the URL logged in to last.
	Current string            `json:"current,omitempty"`
	Servers map[string]server `json:"servers"`
}

type server struct {
	User     string    `json:"user"`
	Token    string    `json:"token"`
	Expires  time.Time `json:"expires,omitzero"`
	CAFile   string    `json:"ca,omitempty"`
	Insecure bool      `json:"insecure,omitempty"`
}

const credentialsFile = "credentials.json"

func normURL(u string) string { return strings.TrimRight(u, "/") }

func loadCredentials(dir string) (credentials, error) {
	c := credentials{Servers: map[string]server{}}
	if dir == "" {
		return c, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, credentialsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return credentials{Servers: map[string]server{}}, err
	}
	if c.Servers == nil {
		c.Servers = map[string]server{}
	}
	return c, nil
}

// save writes the file with mode 0600 through a rename, so that a crash
// never leaves half a file and the token is never world-readable.
func (c credentials) save(dir string) error {
	if dir == "" {
		return errors.New("no configuration directory to keep the token in")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), filepath.Join(dir, credentialsFile))
}
