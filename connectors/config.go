package connectors

import (
	"bytes"
	"encoding/json"
	"errors"
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
