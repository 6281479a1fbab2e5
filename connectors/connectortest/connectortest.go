// Package connectortest is the conformance suite every provider runs against
// its sandbox: registration complete, error mapping, pagination to the end,
// cursor round-trip, normalizer output valid for the kind catalog, idempotent
// dedupe keys, webhook verification that fails closed, and the catalog's
// examples equal to the normalizer's output.
//
//	func TestConformance(t *testing.T) {
//		connectortest.Run(t, func(t *testing.T) *connectortest.Env { ... })
//	}
package connectortest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/sandbox"
)

// Env is one provider wired to a fresh sandbox.
type Env struct {
	// Provider is the spec, config and connector, configured against the sandbox.
	Provider *connectors.Provider
	// Connection is the connection to sync (account and validated config).
	Connection connectors.Connection
	// AccessToken is a token the sandbox accepts for Connection's account.
	AccessToken string
	// Expected maps every stream of Connection to the exact number of Signals
	// a full backfill of the sandbox's seeded history yields.
	Expected map[string]int
	// InjectFault queues a fault on the sandbox API.
	InjectFault func(sandbox.Fault)
	// ErrorCases replaces DefaultErrorCases when the provider's wire format
	// signals errors differently (Slack answers HTTP 200 with ok:false).
	ErrorCases []ErrorCase
	// Webhooks are signed deliveries built by the sandbox (nil for providers
	// without webhooks).
	Webhooks []WebhookCase
	// WrongSecret is the provider configured with another webhook secret (nil
	// for providers without webhooks); it must reject every case.
	WrongSecret *connectors.Provider
	// NoSecret is the provider configured without a webhook secret; it must
	// reject every case (fail closed).
	NoSecret *connectors.Provider
	// BodyUnsigned is true when the provider's signature does not cover the
	// body (Jira's delivery JWT covers neither body nor URL): a tampered
	// body cannot be told apart, so that one check is skipped; every other
	// one still applies.
	BodyUnsigned bool
	// Examples are the Signals the provider's normalizer makes from the
	// fixtures docs/signal-kinds.md's examples are written from: for each
	// kind connectors.ExampleKinds gives the provider, one of them must be
	// the catalog's example, exactly.
	Examples []connectors.Signal
}

// ErrorCase maps an injected sandbox fault to the neutral error it must become.
type ErrorCase struct {
	Name  string
	Fault sandbox.Fault
	Want  error
	// WantRetryAfter is checked for rate limits.
	WantRetryAfter time.Duration
}

// WebhookCase is a signed delivery and what it must parse into.
type WebhookCase struct {
	Name    string
	Request *connectors.WebhookRequest
	// WantKinds are the kinds of the Signals it carries, in order.
	WantKinds []string
	// WantNotify is true for notify-only deliveries.
	WantNotify bool
	// WantReply is true for handshakes answered directly.
	WantReply bool
}

// DefaultErrorCases are the HTTP status mappings every REST provider shares.
func DefaultErrorCases() []ErrorCase {
	return []ErrorCase{
		{Name: "401", Fault: sandbox.Fault{Status: 401}, Want: connectors.ErrUnauthorized},
		{Name: "403", Fault: sandbox.Fault{Status: 403}, Want: connectors.ErrForbidden},
		{Name: "404", Fault: sandbox.Fault{Status: 404}, Want: connectors.ErrNotFound},
		{Name: "429", Fault: sandbox.Fault{Status: 429, RetryAfter: 7}, Want: connectors.ErrRateLimited, WantRetryAfter: 7 * time.Second},
		{Name: "500", Fault: sandbox.Fault{Status: 500}, Want: connectors.ErrTransient},
		{Name: "503", Fault: sandbox.Fault{Status: 503}, Want: connectors.ErrTransient},
	}
}

// Run runs the whole suite; setup builds a fresh Env for each subtest.
func Run(t *testing.T, setup func(t *testing.T) *Env) {
	t.Run("Registration", func(t *testing.T) { testRegistration(t, setup(t)) })
	t.Run("ErrorMapping", func(t *testing.T) { testErrorMapping(t, setup) })
	t.Run("PaginationToEnd", func(t *testing.T) { testPagination(t, setup(t)) })
	t.Run("CursorRoundTrip", func(t *testing.T) { testCursorRoundTrip(t, setup(t)) })
	t.Run("IncrementalAfterDoneIsEmpty", func(t *testing.T) { testIncrementalEmpty(t, setup(t)) })
	t.Run("IdempotentDedupeKeys", func(t *testing.T) { testIdempotentKeys(t, setup(t)) })
	t.Run("Webhooks", func(t *testing.T) { testWebhooks(t, setup(t)) })
	t.Run("Garbage", func(t *testing.T) { testGarbage(t, setup) })
	t.Run("CatalogExamples", func(t *testing.T) { testCatalogExamples(t, setup(t)) })
}

// testCatalogExamples: every catalog example written for the provider is
// what its normalizer sends, field for field as a consumer reads it (JSON),
// so an example cannot drift from the normalizer.
func testCatalogExamples(t *testing.T, env *Env) {
	spec := env.Provider.Spec
	kinds := connectors.ExampleKinds(spec.Name)
	if len(kinds) == 0 {
		t.Skipf("no catalog example is written for %s", spec.Name)
	}
	asJSON := func(p connectors.Payload) string {
		b, err := json.Marshal(p)
		require.NoError(t, err)
		return string(b)
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			want := asJSON(connectors.Catalog[kind].Example)
			var closest *connectors.Signal
			for i, s := range env.Examples {
				if s.Kind != kind {
					continue
				}
				require.NoError(t, connectors.ValidateSignal(spec, s))
				if asJSON(s.Payload) == want {
					return
				}
				if closest == nil || s.Payload.Subject.ID == connectors.Catalog[kind].Example.Subject.ID {
					closest = &env.Examples[i]
				}
			}
			require.NotNil(t, closest, "Env.Examples has no %s Signal (the normalizer's output for the fixture the example is written from)", kind)
			require.JSONEq(t, asJSON(closest.Payload), want,
				"the catalog's %s example (connectors/kinds_examples.go) is not what the normalizer sends", kind)
		})
	}
}

// GarbageCases are success responses that are not the provider's JSON: a
// truncated body, an HTML error page served with 200, an empty body, and
// text under the wrong content type.
func GarbageCases() map[string]sandbox.Fault {
	return map[string]sandbox.Fault{
		"truncated JSON":     {Status: 200, Body: `{"items": [{"id": 1, "name": "trunc`},
		"HTML page with 200": {Status: 200, ContentType: "text/html; charset=utf-8", Body: "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"},
		"empty body":         {Status: 200, EmptyBody: true},
		"wrong content type": {Status: 200, ContentType: "text/plain", Body: "upstream connect error or disconnect/reset before headers"},
	}
}

// testGarbage: every API call of a page (whichever call of the page the
// garbage lands on) fails with a transient error naming the provider and
// the endpoint, never a panic nor a page: no Signal and no cursor come out
// of garbage. The same page then succeeds.
func testGarbage(t *testing.T, setup func(*testing.T) *Env) {
	env := setup(t)
	name := env.Provider.Spec.Name
	for _, stream := range streams(t, env) {
		for gname, fault := range GarbageCases() {
			t.Run(stream+"/"+gname, func(t *testing.T) {
				env := setup(t)
				// The garbage lands on each call a first page makes in turn:
				// After lets the earlier calls through.
				for after := 0; after < 8; after++ {
					f := fault
					f.After = after
					env.InjectFault(f)
					p, err := fetch(t, env, client(env), stream, nil)
					if err == nil {
						require.Positive(t, after, "garbage on the page's first call was taken for a page")
						// The page made fewer calls than after+1: the fault
						// was not reached. Every call has been covered.
						require.NotNil(t, p)
						return
					}
					require.Nil(t, p, "no page comes out of garbage")
					require.ErrorIs(t, err, connectors.ErrTransient, "garbage is retried: %v", err)
					require.Contains(t, err.Error(), name, "the error names the provider")
					require.Regexp(t, `(GET|POST|PUT|PATCH|DELETE) /`, err.Error(), "the error names the endpoint")
				}
			})
		}
	}
}

func testRegistration(t *testing.T, env *Env) {
	spec := env.Provider.Spec
	var found bool
	for _, s := range connectors.Registered() {
		if s.Name == spec.Name {
			found = true
			require.Same(t, s, spec, "the registered spec must be the one the connector returns")
		}
	}
	require.True(t, found, "provider %s is not registered (missing connectors.MustRegister in init?)", spec.Name)
	require.Same(t, spec, env.Provider.Connector.Spec())
	require.NotEmpty(t, spec.DisplayName)
	require.NotEmpty(t, spec.Description)
	require.NotEmpty(t, spec.Kinds)
	for _, k := range spec.Kinds {
		require.Contains(t, connectors.Catalog, k)
	}
	for _, u := range []string{spec.Defaults.AuthURL, spec.Defaults.TokenURL, spec.Defaults.APIURL} {
		require.Regexp(t, `^https://`, u, "default provider URLs must point at the real provider")
	}
	require.Greater(t, float64(spec.Policy.Rate), 0.0, "policy needs a steady rate")
	require.Greater(t, spec.Policy.Burst, 0, "policy needs a burst")
	require.Greater(t, spec.Policy.PollInterval, time.Duration(0), "policy needs a poll interval")
	c := env.Provider.Connector
	_, isAuth := c.(connectors.Authorizer)
	require.True(t, isAuth, "every provider authorizes with OAuth")
	_, isSync := c.(connectors.Syncer)
	_, isHook := c.(connectors.WebhookReceiver)
	for _, cp := range spec.Capabilities {
		switch cp {
		case connectors.CapBackfill, connectors.CapPoll:
			require.True(t, isSync, "capability %s needs connectors.Syncer", cp)
		case connectors.CapWebhook:
			require.True(t, isHook, "capability webhook needs connectors.WebhookReceiver")
		}
	}
	if spec.Policy.Token.Expires {
		require.Greater(t, spec.Policy.Token.RefreshBefore, time.Duration(0))
	}
}

func client(env *Env) *http.Client {
	return Client(env.Provider, env.Connection.Account.ID, env.AccessToken)
}

func syncer(t *testing.T, env *Env) connectors.Syncer {
	s, ok := env.Provider.Connector.(connectors.Syncer)
	require.True(t, ok, "provider does not implement connectors.Syncer")
	return s
}

func streams(t *testing.T, env *Env) []string {
	ss, err := syncer(t, env).Streams(env.Connection)
	require.NoError(t, err)
	require.NotEmpty(t, ss)
	got := slices.Clone(ss)
	slices.Sort(got)
	var want []string
	for s := range env.Expected {
		want = append(want, s)
	}
	slices.Sort(want)
	require.Equal(t, want, got, "Env.Expected must name every stream")
	return ss
}

func fetch(t *testing.T, env *Env, hc *http.Client, stream string, cursor json.RawMessage) (*connectors.Page, error) {
	return Fetch(t, env.Provider, env.Connection, hc, stream, cursor)
}

// drain reads a stream to the end from cursor and returns its Signals, the
// resting cursor and the page count.
func drain(t *testing.T, env *Env, hc *http.Client, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage, int) {
	return drainPages(t, env.Provider, env.Connection, hc, stream, cursor)
}

func drainPages(t testing.TB, p *connectors.Provider, conn connectors.Connection, hc *http.Client, stream string, cursor json.RawMessage) ([]connectors.Signal, json.RawMessage, int) {
	t.Helper()
	var all []connectors.Signal
	for pages := 1; pages <= 10000; pages++ {
		page, err := Fetch(t, p, conn, hc, stream, cursor)
		require.NoError(t, err, "stream %s page %d", stream, pages)
		require.NotNil(t, page)
		all = append(all, page.Signals...)
		require.True(t, json.Valid(page.Next), "stream %s page %d: Next cursor must be valid JSON, got %q", stream, pages, page.Next)
		if page.Done {
			return all, page.Next, pages
		}
		require.False(t, bytes.Equal(page.Next, cursor), "stream %s page %d: cursor did not advance", stream, pages)
		cursor = page.Next
	}
	t.Fatalf("stream %s did not finish in 10000 pages", stream)
	return nil, nil, 0
}

func testErrorMapping(t *testing.T, setup func(*testing.T) *Env) {
	env := setup(t)
	cases := env.ErrorCases
	if cases == nil {
		cases = DefaultErrorCases()
	}
	stream := streams(t, env)[0]
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			env := setup(t)
			env.InjectFault(tc.Fault)
			_, err := fetch(t, env, client(env), stream, nil)
			require.Error(t, err)
			require.ErrorIs(t, err, tc.Want, "fault %+v must map to %v, got %v", tc.Fault, tc.Want, err)
			require.Equal(t, tc.Want, connectors.Kind(err))
			if tc.WantRetryAfter > 0 {
				d, ok := connectors.RetryAfter(err)
				require.True(t, ok)
				require.Equal(t, tc.WantRetryAfter, d)
			}
			// The fault was consumed: the same call now succeeds.
			_, err = fetch(t, env, client(env), stream, nil)
			require.NoError(t, err)
		})
	}
}

func testPagination(t *testing.T, env *Env) {
	hc := client(env)
	for _, stream := range streams(t, env) {
		sigs, _, pages := drain(t, env, hc, stream, nil)
		require.Len(t, sigs, env.Expected[stream], "stream %s: exact Signal count of the seeded history", stream)
		if env.Expected[stream] > 0 {
			require.Greater(t, pages, 1, "stream %s: the sandbox must seed more than one page so pagination is exercised", stream)
		}
		for _, s := range sigs {
			require.NoError(t, connectors.ValidateSignal(env.Provider.Spec, s), "stream %s: %s", stream, s.DedupeKey)
			require.True(t, len(s.Raw) > 0 && json.Valid(s.Raw), "stream %s: %s: Raw must hold the provider object", stream, s.DedupeKey)
			_, err := json.Marshal(s.Payload)
			require.NoError(t, err)
		}
	}
}

func keys(sigs []connectors.Signal) []string {
	out := make([]string, 0, len(sigs))
	for _, s := range sigs {
		out = append(out, s.DedupeKey)
	}
	slices.Sort(out)
	return out
}

func testCursorRoundTrip(t *testing.T, env *Env) {
	hc := client(env)
	for _, stream := range streams(t, env) {
		full, _, _ := drain(t, env, hc, stream, nil)
		first, err := fetch(t, env, hc, stream, nil)
		require.NoError(t, err)
		if first.Done {
			continue
		}
		// The cursor survives storage as jsonb: decode and re-encode it.
		var v any
		require.NoError(t, json.Unmarshal(first.Next, &v))
		stored, err := json.Marshal(v)
		require.NoError(t, err)
		rest, _, _ := drain(t, env, hc, stream, stored)
		require.Equal(t, keys(full), keys(append(slices.Clone(first.Signals), rest...)),
			"stream %s: first page + resume from its stored cursor must equal a full read", stream)
	}
}

func testIncrementalEmpty(t *testing.T, env *Env) {
	hc := client(env)
	for _, stream := range streams(t, env) {
		_, resting, _ := drain(t, env, hc, stream, nil)
		again, _, _ := drain(t, env, hc, stream, resting)
		require.Empty(t, again, "stream %s: an incremental sync with nothing new must yield no Signals", stream)
	}
}

func testIdempotentKeys(t *testing.T, env *Env) {
	hc := client(env)
	for _, stream := range streams(t, env) {
		a, _, _ := drain(t, env, hc, stream, nil)
		b, _, _ := drain(t, env, hc, stream, nil)
		ka, kb := keys(a), keys(b)
		require.Equal(t, ka, kb, "stream %s: two backfills must yield the same dedupe keys", stream)
		require.Equal(t, len(ka), len(slices.Compact(slices.Clone(ka))), "stream %s: dedupe keys must be unique within a backfill", stream)
	}
}

func testWebhooks(t *testing.T, env *Env) {
	spec := env.Provider.Spec
	if !slices.Contains(spec.Capabilities, connectors.CapWebhook) {
		t.Skipf("%s has no webhook capability", spec.Name)
	}
	require.NotEmpty(t, env.Webhooks, "providers with webhooks must give signed delivery cases")
	recv := env.Provider.Connector.(connectors.WebhookReceiver)
	for _, wc := range env.Webhooks {
		t.Run(wc.Name, func(t *testing.T) {
			require.NoError(t, recv.VerifyWebhook(wc.Request), "a correctly signed delivery must verify")
			d, err := recv.ParseWebhook(wc.Request)
			require.NoError(t, err)
			require.NotEmpty(t, d.DeliveryID, "every delivery needs an idempotency key")
			if wc.WantReply {
				require.NotNil(t, d.Reply)
				return
			}
			require.NotEmpty(t, d.RouteKeys, "a delivery must carry route keys")
			var kinds []string
			for _, s := range d.Signals {
				require.NoError(t, connectors.ValidateSignal(spec, s))
				kinds = append(kinds, s.Kind)
			}
			require.Equal(t, wc.WantKinds, kinds)
			require.Equal(t, wc.WantNotify, d.Notify)

			// Tampered body, missing signature headers, wrong or no secret: rejected.
			tampered := *wc.Request
			tampered.Body = append(slices.Clone(wc.Request.Body), ' ')
			if len(wc.Request.Body) > 0 && !env.BodyUnsigned {
				require.ErrorIs(t, recv.VerifyWebhook(&tampered), connectors.ErrUnauthorized, "tampered body")
			}
			bare := *wc.Request
			bare.Header = http.Header{"Content-Type": wc.Request.Header.Values("Content-Type")}
			require.ErrorIs(t, recv.VerifyWebhook(&bare), connectors.ErrUnauthorized, "missing signature headers")
			if wc.Request.ChannelSecret != "" {
				// Verified with the channel's own secret: another channel's
				// secret, or none, must not do.
				for name, secret := range map[string]string{"another channel's secret": wc.Request.ChannelSecret + "x", "no channel secret": ""} {
					r := *wc.Request
					r.ChannelSecret = secret
					require.ErrorIs(t, recv.VerifyWebhook(&r), connectors.ErrUnauthorized, name)
				}
				return
			}
			for name, p := range map[string]*connectors.Provider{"wrong secret": env.WrongSecret, "no secret": env.NoSecret} {
				require.NotNil(t, p, "Env.%s is required for webhook providers", name)
				err := p.Connector.(connectors.WebhookReceiver).VerifyWebhook(wc.Request)
				require.ErrorIs(t, err, connectors.ErrUnauthorized, name)
			}
		})
	}
}
