package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/poblysh/poblysh/db"
)

// The feed's page is the service's hottest response: 100 Signals whose
// payloads are already JSON (Postgres renders jsonb with a space after
// every ':' and ','). encoding/json spent most of the handler's CPU
// re-validating and compacting those payloads with its scanner; the page
// is written here instead, with the payloads compacted by a plain pass
// that only strips whitespace outside strings. The bytes are the ones
// writeJSON would write for the same page (TestFeedPageBytes holds them
// to it), so clients see no difference.

// feedBufs recycles page buffers (a page of 100 Signals is ~50 KB).
var feedBufs = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// writeSignalPage answers 200 with {"next_cursor":…,"signals":[…]}, the
// body writeJSON gives map[string]any{"signals": views, "next_cursor": …}.
func writeSignalPage(w http.ResponseWriter, rows []db.Signal, next *string) {
	bp := feedBufs.Get().(*[]byte)
	b := appendSignalPage((*bp)[:0], rows, next)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	// With its length known, net/http sends the body as is instead of
	// in chunks.
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	if cap(b) <= 1<<20 { // a page of 1,000 large payloads is not kept
		*bp = b
		feedBufs.Put(bp)
	}
}

func appendSignalPage(b []byte, rows []db.Signal, next *string) []byte {
	b = append(b, `{"next_cursor":`...)
	if next == nil {
		b = append(b, "null"...)
	} else {
		b = appendJSONString(b, *next)
	}
	b = append(b, `,"signals":[`...)
	for i := range rows {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendSignal(b, &rows[i])
	}
	return append(b, "]}\n"...)
}

// appendSignal writes what signalView(s, false) encodes to, fields in
// signalJSON's order.
func appendSignal(b []byte, s *db.Signal) []byte {
	b = append(b, `{"id":`...)
	b = appendJSONString(b, s.ID)
	b = append(b, `,"source":`...)
	b = appendJSONString(b, s.Source)
	b = append(b, `,"kind":`...)
	b = appendJSONString(b, s.Kind)
	b = append(b, `,"timestamp":"`...)
	b = s.OccurredAt.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","payload":`...)
	b = appendCompactJSON(b, s.Payload)
	b = append(b, `,"connection_id":`...)
	b = appendJSONString(b, s.ConnectionID)
	b = append(b, `,"ingested_at":"`...)
	b = s.IngestedAt.UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, `","raw":null}`...)
}

// appendJSONString quotes s as writeJSON's encoder does (HTML escaping
// off). Identifiers and cursors are plain printable ASCII and are copied;
// any other string goes through such an encoder.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false)
			_ = enc.Encode(s) // a string always encodes
			return append(b, bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendCompactJSON appends the JSON value v without the whitespace
// between its tokens, as json.Compact does for valid JSON. v is a stored
// jsonb value, which Postgres only ever renders as valid JSON, so it is
// not validated again; empty (SQL NULL) is written as null, and a string
// left open (not from jsonb) is copied as is.
//
// One pass over v appends the runs between whitespace outside strings. A
// string is skipped byte by byte for its first stringWindow bytes (most of
// a payload's strings, ids, names and URLs, are shorter than that, and
// calling bytes.IndexByte for each of them cost more than it saved), then
// by bytes.IndexByte, for the long ones.
func appendCompactJSON(b []byte, v []byte) []byte {
	if len(v) == 0 {
		return append(b, "null"...)
	}
	from := 0 // v[from:i] is still to be appended
	for i := 0; i < len(v); i++ {
		switch v[i] {
		case ' ', '\n', '\t', '\r':
			b = append(b, v[from:i]...)
			from = i + 1
		case '"': // to the closing quote
			i++
		str:
			for i < len(v) {
				for end := min(i+stringWindow, len(v)); i < end; i++ {
					if quoteOrEscape[v[i]] {
						if v[i] == '"' {
							break str
						}
						i++ // the escaped byte never ends the string
					}
				}
				if i >= len(v) {
					break
				}
				q := bytes.IndexByte(v[i:], '"')
				if q < 0 {
					i = len(v)
					break
				}
				if e := bytes.IndexByte(v[i:i+q], '\\'); e >= 0 {
					i += e + 2 // past the escape, and look again
					continue
				}
				i += q
				break
			}
		}
	}
	return append(b, v[from:]...)
}

// stringWindow is how many bytes of a string appendCompactJSON looks at
// one by one before it searches for the closing quote.
const stringWindow = 16

// quoteOrEscape marks the bytes that end a string or start an escape.
var quoteOrEscape = [256]bool{'"': true, '\\': true}
