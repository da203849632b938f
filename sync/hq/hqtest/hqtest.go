// Package hqtest opens HQ stores for tests, each on a database of its own
// in a throwaway PostgreSQL cluster.
package hqtest

import (
	"context"
	"testing"

	"github.com/outpostdc/outpost/sync/hq"
	"github.com/outpostdc/outpost/sync/pgtest"
)

// Store opens a fresh HQ store on c, closed when the test ends.
func Store(t *testing.T, c *pgtest.Cluster) *hq.Store {
	t.Helper()
	ctx := context.Background()
	dsn, err := c.NewDB(ctx)
	if err != nil {
		t.Fatal(err)
	}
	h, err := hq.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}
