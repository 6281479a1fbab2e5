package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// trickyPayloads are JSON values whose whitespace, strings and escapes a
// compaction could get wrong.
var trickyPayloads = []string{
	`{}`, `[]`, `null`, `0`, `"x"`, `true`,
	`{"title": "a, b: c", "n": [1, 2.5, -3e7], "empty": {}, "list": []}`,
	`{"q": "say \"hi\", then: leave", "bs": "C:\\ dir\\", "end": "\\"}`,
	`{"u": "caf\u00e9 \u2028 \u2029 <b>&amp;</b> 日本 🙂", "ctl": "tab\there\nnew line\r\u0001"}`,
	"{\n\t\"a\" :\r\n [ 1 ,\t{ \"b\" : \" spaced \" } ] \n}",
	`{"deep": [[[[{"a": [{"b": null}]}]]]], "s": " ", "k": "\" "}`,
}

// pageVia writeJSON: the body the feed wrote before its own encoder.
func pageViaWriteJSON(t *testing.T, rows []db.Signal, next *string) string {
	t.Helper()
	out := make([]signalJSON, 0, len(rows))
	for i := range rows {
		out = append(out, signalView(&rows[i], false))
	}
	rec := httptest.NewRecorder()
	writeJSON(rec, 200, map[string]any{"signals": out, "next_cursor": next})
	return rec.Body.String()
}

func pageViaFeed(rows []db.Signal, next *string) (string, string) {
	rec := httptest.NewRecorder()
	writeSignalPage(rec, rows, next)
	return rec.Body.String(), rec.Header().Get("Content-Type")
}

// randomValue builds a random JSON-able value with awkward strings.
func randomValue(r *rand.Rand, depth int) any {
	pieces := []string{"a", " ", ",", ":", `"`, `\`, "\n", "\t", "é", "\u2028", "<", "&", "\x01", "🙂", "{", "]", `\"`, `\\`}
	str := func() string {
		var sb strings.Builder
		n := r.IntN(8)
		if r.IntN(4) == 0 {
			n = r.IntN(80) // long: past appendCompactJSON's byte-by-byte window, escapes anywhere in it
		}
		for range n {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	k := r.IntN(7)
	if depth > 3 {
		k = r.IntN(4)
	}
	switch k {
	case 0:
		return str()
	case 1:
		return r.Float64()*2e6 - 1e6
	case 2:
		return r.IntN(2) == 0
	case 3:
		return nil
	case 4, 5:
		m := map[string]any{}
		for range r.IntN(5) {
			m[str()] = randomValue(r, depth+1)
		}
		return m
	default:
		l := make([]any, r.IntN(5))
		for i := range l {
			l[i] = randomValue(r, depth+1)
		}
		return l
	}
}

func TestFeedPageBytes(t *testing.T) {
	t.Run("same bytes as encoding/json", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		at := time.Date(2026, 12, 6, 5, 4, 3, 120_000_000, time.FixedZone("x", 3600))
		var rows []db.Signal
		payloads := append([]string(nil), trickyPayloads...)
		for range 300 {
			v, err := json.MarshalIndent(randomValue(r, 0), strings.Repeat(" ", r.IntN(2)), []string{" ", "\t", "  "}[r.IntN(3)])
			require.NoError(t, err)
			payloads = append(payloads, string(v))
		}
		for i, p := range payloads {
			rows = append(rows, db.Signal{ID: fmt.Sprintf("0190c7a4-0000-7000-8000-%012d", i), Source: "github", Kind: "pr.merged",
				OccurredAt: at.Add(time.Duration(i) * time.Nanosecond * 1001), IngestedAt: at.Add(time.Duration(i) * time.Second),
				ConnectionID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427", Payload: []byte(p)})
		}
		rows = append(rows, db.Signal{ID: "odd \"id\" é\u2028 <b>&</b>", Source: "a\\b<", Kind: "k\n&", Payload: nil})
		next := "MTIzNDU2Nzg5MDox.eyJzb3VyY2UiOiJnaXRodWIifQ"
		for _, n := range []*string{&next, nil} {
			got, ct := pageViaFeed(rows, n)
			require.Equal(t, pageViaWriteJSON(t, rows, n), got)
			require.Equal(t, "application/json; charset=utf-8", ct)
			require.True(t, json.Valid([]byte(got)))
		}
		got, _ := pageViaFeed(nil, nil)
		require.Equal(t, "{\"next_cursor\":null,\"signals\":[]}\n", got)
		require.Equal(t, pageViaWriteJSON(t, nil, nil), got)
	})

	// The payloads as Postgres renders them from jsonb, read by the feed
	// itself.
	t.Run("payloads as stored", func(t *testing.T) {
		s := dbtest.NewSchema(t)
		tenant, conn := dbtest.Seed(t, s.DB, "Feed JSON", "github", "acct")
		ctx := context.Background()
		r := rand.New(rand.NewPCG(3, 4))
		var sigs []db.NewSignal
		payloads := append([]string(nil), trickyPayloads...)
		for range 100 {
			v, err := json.Marshal(map[string]any{"v": randomValue(r, 0)})
			require.NoError(t, err)
			payloads = append(payloads, string(v))
		}
		for i, p := range payloads {
			sigs = append(sigs, db.NewSignal{Kind: "pr.merged", OccurredAt: time.Now().Add(-time.Duration(i) * time.Minute),
				DedupeKey: fmt.Sprintf("k%d", i), Payload: []byte(strings.ReplaceAll(p, `\u0000`, ""))})
		}
		require.NoError(t, s.DB.WithTenantSignals(ctx, tenant, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, conn, "github", sigs)
			return err
		}))
		// The horizon may hold the rows back for a moment behind a
		// transaction of another test that has just been assigned an id.
		var rows []db.Signal
		var next string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			var err error
			rows, next, err = s.DB.ListFeed(ctx, tenant, db.SignalFilter{Limit: 1000})
			require.NoError(t, err)
			if len(rows) == len(sigs) || time.Now().After(deadline) {
				break
			}
		}
		require.Len(t, rows, len(sigs), "every stored Signal reaches the feed")
		spaced := 0
		for _, row := range rows {
			if strings.Contains(string(row.Payload), ": ") {
				spaced++
			}
		}
		require.Positive(t, spaced, "Postgres renders jsonb with spaces, which the feed must strip")
		got, _ := pageViaFeed(rows, &next)
		require.Equal(t, pageViaWriteJSON(t, rows, &next), got)
		var page struct {
			Signals []struct {
				Payload json.RawMessage `json:"payload"`
			} `json:"signals"`
		}
		require.NoError(t, json.Unmarshal([]byte(got), &page))
		for i, sg := range page.Signals {
			require.JSONEq(t, string(rows[i].Payload), string(sg.Payload))
			// Compact: not a space left between tokens (a string may hold
			// `": ` itself, escaped quote and all).
			var compact bytes.Buffer
			require.NoError(t, json.Compact(&compact, rows[i].Payload))
			require.Equal(t, compact.String(), string(sg.Payload))
		}
	})
}

// BenchmarkFeedPage encodes a page of 100 Signals with fake-provider
// payloads as Postgres renders them, both ways.
func BenchmarkFeedPage(b *testing.B) {
	rows := make([]db.Signal, 100)
	at := time.Now()
	for i := range rows {
		rows[i] = db.Signal{ID: "0190c7a4-0000-7000-8000-000000000001", Source: "fake", Kind: "message.posted",
			OccurredAt: at, IngestedAt: at, ConnectionID: "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
			Payload: []byte(fmt.Sprintf(`{"url": "https://fake.invalid/items/%d", "actor": {"id": "user-%d", "name": "user-%d"}, `+
				`"title": "Item %d of items: a title, long enough", "context": {"id": "items", "name": "items", "type": "stream"}, `+
				`"subject": {"id": "%d", "type": "item"}, "attributes": {"ts": "%d", "channel_id": "items"}}`, i, i, i, i, i, i))}
	}
	next := "MTIzNDU2Nzg5MDox"
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			out := make([]signalJSON, 0, len(rows))
			for i := range rows {
				out = append(out, signalView(&rows[i], false))
			}
			writeJSON(httptest.NewRecorder(), 200, map[string]any{"signals": out, "next_cursor": &next})
		}
	})
	b.Run("feed", func(b *testing.B) {
		for b.Loop() {
			writeSignalPage(httptest.NewRecorder(), rows, &next)
		}
	})
}

// TestListItemsCarryRawNull: the spec has raw on every Signal
// (x-omitempty: false) and null in lists; the feed's own writer and the
// encoder of time queries both write it, a stored raw object is never in
// a list.
func TestListItemsCarryRawNull(t *testing.T) {
	at := time.Date(2026, 12, 6, 20, 0, 0, 0, time.UTC)
	rows := []db.Signal{{ID: "6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", Source: "slack", Kind: "message.posted", Payload: []byte(`{"title": "x"}`),
		ConnectionID: "3d9f1e2a-7c4b-4a8e-b6d5-0e1f2a3b4c5d", OccurredAt: at, IngestedAt: at, Raw: []byte(`{"secret": "provider object"}`)}}
	feed, _ := pageViaFeed(rows, nil)
	for _, body := range []string{feed, pageViaWriteJSON(t, rows, nil)} {
		var page struct {
			Signals []map[string]json.RawMessage `json:"signals"`
		}
		require.NoError(t, json.Unmarshal([]byte(body), &page), body)
		require.Len(t, page.Signals, 1)
		raw, ok := page.Signals[0]["raw"]
		require.True(t, ok, "raw is present: %s", body)
		require.Equal(t, "null", string(raw))
	}
}
