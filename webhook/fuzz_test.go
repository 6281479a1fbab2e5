package webhook

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// recorder wraps a provider's webhook receiver and records the order of
// calls: ParseWebhook must only ever see a request VerifyWebhook passed.
type recorder struct {
	connectors.Connector
	recv connectors.WebhookReceiver

	mu       sync.Mutex
	verified map[*connectors.WebhookRequest]bool
	parsed   int
	early    int // ParseWebhook calls on a request that did not verify
}

func (r *recorder) VerifyWebhook(req *connectors.WebhookRequest) error {
	err := r.recv.VerifyWebhook(req)
	r.mu.Lock()
	r.verified[req] = err == nil
	r.mu.Unlock()
	return err
}

func (r *recorder) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	r.mu.Lock()
	r.parsed++
	if !r.verified[req] {
		r.early++
	}
	r.mu.Unlock()
	return r.recv.ParseWebhook(req)
}

// clientError are the codes the API answers with a 4xx: anything else on
// the webhook route is a 5xx, which the provider retries (forever, for a
// body that will never store).
var clientError = map[string]bool{
	poblysh.EINVALID: true, poblysh.EUNAUTHORIZED: true, poblysh.ENOTFOUND: true, poblysh.ETOOLARGE: true,
	poblysh.EMEDIATYPE: true, poblysh.EVALIDATION: true, poblysh.EINVALIDCONFIG: true,
}

// FuzzReceive sends any body, signed with the fake provider's secret or
// forged, through the whole intake (verify, parse, route, record and store
// in Postgres), for three connections routed by account. Properties:
// nothing panics; ParseWebhook never sees a request that did not verify (a
// forged body never reaches the parser); the intake fails only with a
// client error (no 5xx for any body); and a signed delivery that is
// accepted stores each of its Signals, so a redelivery is a duplicate.
// testdata/fuzz/FuzzReceive holds the cases it found: a NUL in a title or
// an account (Postgres refused the insert: 503) and a Signal without a
// time (500).
func FuzzReceive(f *testing.F) {
	e := setup(f)
	rec := &recorder{Connector: e.p.Connector, recv: e.p.Connector.(connectors.WebhookReceiver), verified: map[*connectors.WebhookRequest]bool{}}
	p := &connectors.Provider{Spec: e.p.Spec, Config: e.p.Config, Connector: rec}
	for _, d := range []fakesandbox.Delivery{
		{Account: "acct", Items: items(2)},
		{Account: "other", Items: []fakesandbox.Item{{ID: 7, Stream: "items", Title: "Launch", Author: "ada", CreatedAt: "2024-05-01T10:00:00Z"}}},
		{Account: "acct", Notify: true},
		{Account: "nobody", Items: items(1)},
		{Account: "acct"},
	} {
		body, err := json.Marshal(d)
		require.NoError(f, err)
		f.Add(body, true)
		f.Add(body, false)
	}
	f.Add([]byte(`{`), true)
	f.Add([]byte{}, false)
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte, signed bool) {
		sum := sha256.Sum256(body)
		secretUsed := "forged"
		if signed {
			secretUsed = secret
		}
		req := func() *connectors.WebhookRequest {
			return &connectors.WebhookRequest{Now: time.Now(), Body: body, Header: http.Header{
				"X-Fake-Delivery": {"fz-" + hex.EncodeToString(sum[:12])}, "X-Fake-Signature": {fakesandbox.Sign(secretUsed, body)},
			}}
		}
		rec.mu.Lock()
		before := rec.parsed
		rec.mu.Unlock()
		out, err := e.in.Receive(ctx, p, req())
		rec.mu.Lock()
		early, parsed := rec.early, rec.parsed-before
		rec.mu.Unlock()
		require.Zero(t, early, "ParseWebhook ran on a request that had not verified")
		if !signed {
			require.ErrorIs(t, err, ErrBadSignature)
			require.Zero(t, parsed, "a forged delivery reached the parser")
			return
		}
		if err != nil {
			require.True(t, clientError[poblysh.ErrorCode(err)], "body %q: the intake answered %v (code %s): a 5xx for a body", body, err, poblysh.ErrorCode(err))
			return
		}
		if out.Status == Accepted && out.Signals > 0 {
			again, err := e.in.Receive(ctx, p, req())
			require.NoError(t, err)
			require.Equal(t, Duplicate, again.Status, "a redelivery of an accepted delivery")
		}
	})
}

// FuzzReceiveGitHub is FuzzReceive through the real GitHub connector,
// whose Signals keep the delivery's own bytes as their raw object (the
// fake provider's are re-encoded by Go, so FuzzReceive cannot reach what
// Postgres refuses in a body as sent): any body, signed with the App's
// secret, as any of the events it reads, routed to a connection by the
// sandbox repository. Properties: no 5xx for any body, and an accepted
// delivery that stored Signals is a duplicate when redelivered. Seeds: a
// sandbox push and the connector's testdata deliveries.
func FuzzReceiveGitHub(f *testing.F) {
	e := newLayers(f)
	events := []string{"push", "pull_request", "release", "ping", "issues"}
	f.Add(uint8(0), e.pushes(f, 1, githubsandbox.PushInput{Commits: 2})[0].Body)
	for _, name := range []string{"github.push.new-branch", "sandbox.push.forced", "sandbox.pull_request.merged", "github.release.published", "sandbox.ping"} {
		body, err := os.ReadFile(filepath.Join("..", "connectors", "github", "testdata", name+".json"))
		require.NoError(f, err)
		ev := slices.IndexFunc(events, func(ev string) bool { return strings.Contains(name, "."+ev+".") || strings.HasSuffix(name, "."+ev) })
		require.GreaterOrEqual(f, ev, 0, name)
		f.Add(uint8(ev), body)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, event uint8, body []byte) {
		sum := sha256.Sum256(append([]byte{event}, body...))
		req := func() *connectors.WebhookRequest {
			s256, s1 := githubsandbox.Sign(body, e.secret)
			return &connectors.WebhookRequest{Now: time.Now(), Body: body, Header: http.Header{
				"Content-Type": {"application/json"}, "X-Github-Event": {events[int(event)%len(events)]},
				"X-Github-Delivery": {"fz-" + hex.EncodeToString(sum[:12])}, "X-Hub-Signature-256": {s256}, "X-Hub-Signature": {s1},
				"X-Github-Hook-Installation-Target-Type": {"integration"},
			}}
		}
		out, err := e.in.Receive(ctx, e.p, req())
		if err != nil {
			require.True(t, clientError[poblysh.ErrorCode(err)], "body %q: the intake answered %v (code %s): a 5xx for a body", body, err, poblysh.ErrorCode(err))
			return
		}
		if out.Status == Accepted && out.Signals > 0 {
			again, err := e.in.Receive(ctx, e.p, req())
			require.NoError(t, err)
			require.Equal(t, Duplicate, again.Status, "a redelivery of an accepted delivery")
		}
	})
}

// FuzzReceiveSlack is FuzzReceiveGitHub through the real Slack connector:
// any body, signed with the signing secret, through the whole intake,
// routed to a connection by every key the connector's testdata events
// carry. Slack retries a 5xx (three times) and then drops the event, so a
// body that can never store must be a 4xx. Properties: no 5xx for any
// body, and an accepted delivery that stored Signals is a duplicate when
// redelivered. Seeds: the connector's testdata events (messages, their
// deletions and edits, reactions, access and install events), whose
// event_id is slackEventID: a Slack delivery is recorded by its event_id,
// so the intake reads that as an id of the body's own hash, and a mutated
// body is a delivery of its own, not a duplicate of its seed.
// testdata/fuzz/FuzzReceiveSlack holds a deletion whose deleted_ts ends in
// a NUL, which Postgres refused as a retraction key (503 at every retry).
func FuzzReceiveSlack(f *testing.F) {
	e := newSlackEnv(f)
	eventID := regexp.MustCompile(`"event_id":\s*"[^"]*"`)
	for _, name := range slices.Sorted(maps.Keys(e.events)) {
		f.Add(eventID.ReplaceAll(e.events[name], []byte(`"event_id": "`+slackEventID+`"`)))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, body []byte) {
		sum := sha256.Sum256(body)
		body = bytes.ReplaceAll(body, []byte(slackEventID), []byte("fz-"+hex.EncodeToString(sum[:12])))
		out, err := e.in.Receive(ctx, e.p, e.request(body))
		if err != nil {
			require.True(t, clientError[poblysh.ErrorCode(err)], "body %q: the intake answered %v (code %s): a 5xx for a body", body, err, poblysh.ErrorCode(err))
			return
		}
		if out.Status == Accepted && out.Signals > 0 {
			again, err := e.in.Receive(ctx, e.p, e.request(body))
			require.NoError(t, err)
			require.Equal(t, Duplicate, again.Status, "a redelivery of an accepted delivery")
		}
	})
}

// slackEventID in a FuzzReceiveSlack body stands for an event_id of the
// body's hash.
const slackEventID = "EVENT_ID"
