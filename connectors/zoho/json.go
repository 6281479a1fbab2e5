package zoho

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Str is a JSON value Zoho sends as a string, a number or a boolean
// depending on the API and the day ("status":"0" and "status":0; message
// ids beyond 2^53 as numbers). It keeps the value's text exactly: a number
// is never read through float64, so a 19-digit id survives.
type Str string

// UnmarshalJSON implements json.Unmarshaler.
func (s *Str) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*s = ""
	case b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = Str(v)
	default:
		// A number or a boolean: its literal text (json.Number keeps digits).
		*s = Str(b)
	}
	return nil
}

// String returns the text.
func (s Str) String() string { return string(s) }

// Bool reads "true", "1", 1 and true as true.
func (s Str) Bool() bool {
	switch strings.ToLower(strings.TrimSpace(string(s))) {
	case "true", "1", "yes":
		return true
	}
	return false
}

// Int reads an integer ("42", 42); ok is false for anything else.
func (s Str) Int() (int64, bool) {
	v, err := strconv.ParseInt(strings.TrimSpace(string(s)), 10, 64)
	return v, err == nil
}

// Millis reads epoch milliseconds ("1519802350000" or a number) or, failing
// that, an RFC 3339 time ("2026-05-28T10:30:00+05:30", which Cliq's v3 APIs
// send). ok is false when it is neither.
func (s Str) Millis() (time.Time, bool) {
	v := strings.TrimSpace(string(s))
	if ms, err := strconv.ParseInt(v, 10, 64); err == nil && ms > 0 {
		return time.UnixMilli(ms).UTC(), true
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f > 0 && f < 1e15 {
		return time.UnixMilli(int64(f)).UTC(), true
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.000Z0700", "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
