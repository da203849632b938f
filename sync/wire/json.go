package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"

	"github.com/outpostdc/outpost/appliance"
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

// Strict decodes one JSON value from b into v, refusing unknown fields
// and anything after the value: what crosses the WAN is read exactly.
func Strict(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON value")
	}
	return nil
}

// DecodeIntent reads an intent's body strictly; the error is invalid
// input, whoever reads it (HQ when the intent is made, the site when it
// applies it).
func DecodeIntent(b []byte, v any) error {
	if err := Strict(b, v); err != nil {
		return appliance.Errorf(appliance.CodeInvalid, "bad intent body: %v", err)
	}
	return nil
}
