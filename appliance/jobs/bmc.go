package jobs

import (
	"context"
	"encoding/json"

	"github.com/outpostdc/outpost/appliance"
	"github.com/outpostdc/outpost/appliance/bmc"
)

// BMCDialer reaches BMCs with the credentials kept for each machine.
type BMCDialer struct {
	Dialer *bmc.Dialer
	Creds  *bmc.CredStore
}

// Dial connects to a machine's BMC.
func (d *BMCDialer) Dial(ctx context.Context, machineID int64) (Controller, error) {
	c, err := d.Creds.Get(machineID)
	if err != nil {
		return nil, appliance.Errorf(appliance.CodeConflict, "no BMC credentials for machine %d: enrol it or set them", machineID)
	}
	return d.Dialer.Dial(ctx, c)
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }
