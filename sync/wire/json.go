package wire

import (
	"bytes"
	"encoding/json"
	"reflect"
)

// SameJSON says whether two JSON documents hold the same value: key order,
// spacing and number spelling aside (1.50 and 1.5 differ: numbers are
// compared as written, after the site's and HQ's encoders).
func SameJSON(a, b []byte) bool {
	var x, y any
	da, db := json.NewDecoder(bytes.NewReader(a)), json.NewDecoder(bytes.NewReader(b))
	da.UseNumber()
	db.UseNumber()
	if da.Decode(&x) != nil || db.Decode(&y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}
