package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// DecodeConfig decodes a connection config strictly into dst: an empty
// config or null leaves dst as it is; malformed JSON, a value of the wrong
// type and unknown fields (a typo must not silently sync the wrong thing)
// are a *ConfigError on "config" that shows the expected shape.
func DecodeConfig(raw json.RawMessage, dst any, shape string) error {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(t))
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil && dec.More() {
		err = errors.New("unexpected data after the config object")
	}
	if err != nil {
		return &ConfigError{Fields: map[string]string{"config": "must be " + shape + ": " + err.Error()}}
	}
	return nil
}

// CheckBackfillDays checks a config's optional "backfill_days" once raw has
// been decoded and the field read into days: present and not null, it must be
// from 1 to max. A 0 is refused like any other value out of range, not taken
// as unset (a stored config drops it, so the connection would silently get the
// provider's default window).
func CheckBackfillDays(raw json.RawMessage, days, max int) error {
	var in struct {
		Days json.RawMessage `json:"backfill_days"`
	}
	_ = json.Unmarshal(raw, &in) // raw has been decoded once already
	set := len(in.Days) > 0 && !bytes.Equal(in.Days, []byte("null"))
	if days < 0 || days > max || set && days < 1 {
		return &ConfigError{Fields: map[string]string{"backfill_days": fmt.Sprintf("must be from 1 to %d days", max)}}
	}
	return nil
}
