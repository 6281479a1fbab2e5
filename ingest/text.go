package ingest

import (
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Postgres stores text and jsonb only as valid UTF-8 without NUL: a NUL
// (JSON "\u0000") or an invalid byte makes the whole insert fail, so one
// such character in a signed webhook or a provider page would fail the
// delivery (a 5xx the provider retries forever) or stop the stream. Rows
// cleans every text it stores instead: NUL removed, invalid bytes replaced
// by U+FFFD. Found by webhook.FuzzReceive.

// cleanText is s as Postgres text.
func cleanText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		s = strings.ReplaceAll(s, "\x00", "")
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}

// nulEscape is how encoding/json writes a NUL.
var nulEscape = []byte(`\u0000`)

// cleanJSON is the JSON document b as Postgres jsonb: b itself when it is
// clean (the common case, no copy), otherwise b decoded, its strings and
// keys cleaned, and encoded again. ok is false when b is not JSON.
func cleanJSON(b []byte) (_ []byte, ok bool) {
	if !bytes.Contains(b, nulEscape) && utf8.Valid(b) && bytes.IndexByte(b, 0) < 0 {
		return b, json.Valid(b)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil || dec.More() {
		return nil, false
	}
	out, err := json.Marshal(cleanValue(v))
	if err != nil {
		return nil, false
	}
	return out, true
}

func cleanValue(v any) any {
	switch v := v.(type) {
	case string:
		return cleanText(v)
	case []any:
		for i := range v {
			v[i] = cleanValue(v[i])
		}
		return v
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[cleanText(k)] = cleanValue(x)
		}
		return out
	}
	return v
}
