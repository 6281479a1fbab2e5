package connectortest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// The fuzz targets every provider runs (in its fuzz_test.go) over the same
// Env as its conformance suite, seeded with the Env's signed deliveries,
// its validated config and the cursors of its first pages:
//
//	func FuzzWebhook(f *testing.F) { connectortest.FuzzWebhook(f, conformanceEnv(f)) }
//	func FuzzCursor(f *testing.F)  { connectortest.FuzzCursor(f, conformanceEnv(f)) }
//	func FuzzConfig(f *testing.F)  { connectortest.FuzzConfig(f, conformanceEnv(f), extraSeeds...) }
//
// `go test` runs the seeds (and any regression case committed under the
// package's testdata/fuzz/<target>/); `make test` and `make fuzz` also
// explore (scripts/fuzz.sh).

// FuzzWebhook fuzzes the body and one header or query parameter of each
// signed delivery in env.Webhooks. For any input:
//   - VerifyWebhook and ParseWebhook never panic;
//   - when a request verifies, the same headers with a tampered body (a
//     byte appended, or cut in half) do not (unless env.BodyUnsigned:
//     Jira's JWT, Google's channel token and Pub/Sub's OIDC token do not
//     cover the body);
//   - ParseWebhook is deterministic: parsing the same request twice gives
//     the same delivery (route keys, Signals with their dedupe keys and
//     payloads) or the same error;
//   - a parsed delivery's Signals are complete (kind, dedupe key and time
//     set): the intake refuses the whole delivery otherwise.
//
// ParseWebhook is called even when verification fails, to reach the
// parser with bodies no signature covers; the intake itself never does
// (webhook.FuzzReceive checks that order).
func FuzzWebhook(f *testing.F, env *Env) {
	recv, ok := env.Provider.Connector.(connectors.WebhookReceiver)
	require.True(f, ok, "%s does not receive webhooks", env.Provider.Spec.Name)
	cases := env.Webhooks
	require.NotEmpty(f, cases, "FuzzWebhook needs Env.Webhooks")
	for i, wc := range cases {
		names := fieldNames(wc.Request)
		for h := range names {
			f.Add(uint8(i), wc.Request.Body, uint8(h), getField(wc.Request, names[h]))
		}
		f.Add(uint8(i), []byte{}, uint8(0), "")
		f.Add(uint8(i), []byte(`{}`), uint8(0), "")
	}
	f.Fuzz(func(t *testing.T, i uint8, body []byte, h uint8, value string) {
		wc := cases[int(i)%len(cases)]
		req := cloneRequest(wc.Request)
		req.Body = body
		if names := fieldNames(req); len(names) > 0 {
			setField(req, names[int(h)%len(names)], value)
		}
		err := recv.VerifyWebhook(cloneRequest(req))
		if err == nil && !env.BodyUnsigned {
			for _, forged := range [][]byte{append(slices.Clone(body), ' '), body[:len(body)/2]} {
				if bytes.Equal(forged, body) {
					continue
				}
				r := cloneRequest(req)
				r.Body = forged
				require.ErrorIs(t, recv.VerifyWebhook(r), connectors.ErrUnauthorized, "a tampered body verified with the headers of %q", wc.Name)
			}
		}
		d1, err1 := recv.ParseWebhook(cloneRequest(req))
		d2, err2 := recv.ParseWebhook(cloneRequest(req))
		require.Equal(t, errText(err1), errText(err2), "ParseWebhook is not deterministic")
		if err1 != nil {
			return
		}
		require.Equal(t, d1, d2, "ParseWebhook is not deterministic")
		for _, s := range d1.Signals {
			require.True(t, s.Kind != "" && s.DedupeKey != "" && !s.OccurredAt.IsZero(),
				"ParseWebhook returned an incomplete Signal %+v", s)
		}
	})
}

// FuzzCursor hands FetchPage arbitrary stored cursors for every stream of
// env.Connection. Seeds: no cursor, and the Next cursor of each stream's
// first page read from the sandbox. The fuzzed calls reach the cursor
// decoder and then an HTTP client that fails every request (so they run
// at fuzzing speed, not at the provider's pace). For any cursor FetchPage
// never panics, and a page it returns carries a Next cursor that is valid
// JSON (it is stored as jsonb).
func FuzzCursor(f *testing.F, env *Env) {
	s, ok := env.Provider.Connector.(connectors.Syncer)
	require.True(f, ok, "%s does not sync", env.Provider.Spec.Name)
	ss, err := s.Streams(env.Connection)
	require.NoError(f, err)
	require.NotEmpty(f, ss)
	hc := client(env)
	for i, stream := range ss {
		f.Add(uint8(i), []byte(nil))
		f.Add(uint8(i), []byte(`{}`))
		f.Add(uint8(i), []byte(`null`))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		p, err := s.FetchPage(ctx, connectors.PageRequest{Connection: env.Connection, Stream: stream, HTTP: hc, Now: time.Now()})
		cancel()
		require.NoError(f, err, "stream %s: first page", stream)
		f.Add(uint8(i), []byte(p.Next))
	}
	// The decoder runs before any request; what follows would only wait on
	// the provider's pacing, so the fuzzed calls go nowhere.
	offline := &http.Client{Transport: offlineTransport{}}
	f.Fuzz(func(t *testing.T, i uint8, cursor []byte) {
		stream := ss[int(i)%len(ss)]
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var c json.RawMessage
		if cursor != nil {
			c = cursor
		}
		p, err := s.FetchPage(ctx, connectors.PageRequest{Connection: env.Connection, Stream: stream, Cursor: c, HTTP: offline, Now: time.Now()})
		if err != nil {
			return
		}
		require.NotNil(t, p)
		require.True(t, json.Valid(p.Next), "stream %s: cursor %q gave a page whose Next %q is not JSON", stream, cursor, p.Next)
	})
}

// FuzzConfig fuzzes the provider's config validation, seeded with
// env.Connection.Config and extra. For any input ValidateConfig never
// panics; it fails only with a *connectors.ConfigError (answered 400 with
// its fields); and what it accepts is valid JSON that validates again to
// itself (normalization is idempotent, so a stored config reloads as is).
func FuzzConfig(f *testing.F, env *Env, extra ...string) {
	v, ok := env.Provider.Connector.(connectors.ConfigValidator)
	require.True(f, ok, "%s does not validate configs", env.Provider.Spec.Name)
	f.Add([]byte(env.Connection.Config))
	for _, s := range append(extra, ``, `null`, `{}`, `[]`, `"x"`, `{"a":1}`) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		out, err := v.ValidateConfig(raw)
		if err != nil {
			var ce *connectors.ConfigError
			require.True(t, errors.As(err, &ce), "ValidateConfig(%q) failed with %T %v, want a *connectors.ConfigError", raw, err, err)
			return
		}
		require.True(t, json.Valid(out), "ValidateConfig(%q) accepted it as %q, not JSON", raw, out)
		again, err := v.ValidateConfig(out)
		require.NoError(t, err, "ValidateConfig(%q) = %q, which does not validate again", raw, out)
		require.JSONEq(t, string(out), string(again), "normalizing %q twice differs", raw)
	})
}

// fieldNames are the request's header names and its query parameters
// (as "?name"), sorted: what FuzzWebhook mutates besides the body.
func fieldNames(r *connectors.WebhookRequest) []string {
	names := make([]string, 0, len(r.Header)+len(r.Query))
	for k := range r.Header {
		names = append(names, k)
	}
	for k := range r.Query {
		names = append(names, "?"+k)
	}
	slices.Sort(names)
	return names
}

func getField(r *connectors.WebhookRequest, name string) string {
	if q, ok := strings.CutPrefix(name, "?"); ok {
		return r.Query.Get(q)
	}
	return r.Header.Get(name)
}

func setField(r *connectors.WebhookRequest, name, value string) {
	if q, ok := strings.CutPrefix(name, "?"); ok {
		r.Query.Set(q, value)
		return
	}
	r.Header.Set(name, value)
}

func cloneRequest(r *connectors.WebhookRequest) *connectors.WebhookRequest {
	c := *r
	c.Header = r.Header.Clone()
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Body = slices.Clone(r.Body)
	if r.Query != nil {
		c.Query = url.Values{}
		for k, v := range r.Query {
			c.Query[k] = slices.Clone(v)
		}
	}
	return &c
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// offlineTransport fails every request.
type offlineTransport struct{}

func (offlineTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("connectortest: offline")
}
