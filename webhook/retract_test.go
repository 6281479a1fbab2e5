package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/slack"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// retractingConnector receives deliveries whose body says what they carry:
// the keys of messages posted, and of messages deleted (as Slack's
// message and message_deleted events do).
type retractingConnector struct{ spec *connectors.Spec }

type retractingBody struct {
	ID      string   `json:"id"`
	Posted  []string `json:"posted"`
	Deleted []string `json:"deleted"`
}

func (c retractingConnector) Spec() *connectors.Spec                       { return c.spec }
func (retractingConnector) VerifyWebhook(*connectors.WebhookRequest) error { return nil }
func (retractingConnector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	var b retractingBody
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return nil, err
	}
	d := &connectors.WebhookDelivery{DeliveryID: b.ID, Event: "message", RouteKeys: []string{"team:T1"}, Retract: b.Deleted}
	for _, k := range b.Posted {
		d.Signals = append(d.Signals, connectors.Signal{Kind: "message.posted", OccurredAt: time.Now(), DedupeKey: k,
			Payload: connectors.Payload{Title: "hi"}})
	}
	return d, nil
}

// retractingIntake is an intake over a fresh schema with one tenant's
// connection of the retracting provider, routed by team:T1.
func retractingIntake(t *testing.T) (*dbtest.Schema, *connectors.Provider, *Intake, string, string) {
	t.Helper()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	spec := &connectors.Spec{Name: "retracting", Retracts: true}
	p := &connectors.Provider{Spec: spec, Connector: retractingConnector{spec: spec}}
	tenant, conn := dbtest.Seed(t, s.DB, "retracting", "retracting", "T1")
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.ReplaceRoutes(ctx, conn, "retracting", []db.Route{{RouteKey: "team:T1"}})
	}))
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	return s, p, &Intake{DB: s.DB, Log: log}, tenant, conn
}

// A deletion delivered before its message (Slack's events come in no
// promised order, and a retried message delivery comes later still)
// retracts the message when it is stored: the deletion is recorded, and
// the store of a provider that retracts re-applies what was recorded for
// its keys once it has committed. It used to be stored unretracted for
// good.
func TestMessageStoredAfterItsDeletionIsRetracted(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p, in, tenant, _ := retractingIntake(t)
	deliver := deliverAccepted(t, in, p)
	deliver(retractingBody{ID: "e1", Deleted: []string{"msg:C1:1"}})
	deliver(retractingBody{ID: "e2", Posted: []string{"msg:C1:1", "msg:C1:2"}})
	deliver(retractingBody{ID: "e3", Deleted: []string{"msg:C1:2"}})

	var retracted []string
	require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		return tx.SelectContext(ctx, &retracted, `SELECT dedupe_key FROM signals
			WHERE payload->'attributes'->>'retracted' = 'true' ORDER BY dedupe_key`)
	}))
	require.Equal(t, []string{"retracting:msg:C1:1", "retracting:msg:C1:2"}, retracted)
}

// A message deleted while its connection is paused or needs
// re-authorization is retracted all the same: history no longer returns a
// deleted message, so no sync after the connection is back could tell, and
// the retention run re-applies only tombstones that were recorded. The
// deletion is accepted (and recorded with the connection); what the same
// delivery posts is not stored, and a delivery that only posts is
// unroutable, as before. The deletion used to be unroutable, and the
// Signal stayed in the feed for good.
func TestDeletionRetractsForInactiveConnection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		become func(ctx context.Context, tx *db.Tx, conn string) error
	}{
		{"paused", func(ctx context.Context, tx *db.Tx, conn string) error {
			paused := true
			if _, err := tx.UpdateConnection(ctx, conn, db.ConnectionPatch{Paused: &paused}); err != nil {
				return err
			}
			_, _, err := tx.ApplyHealth(ctx, conn, poblysh.HealthEvent{Kind: poblysh.EventPaused})
			return err
		}},
		{"needs_reauth", func(ctx context.Context, tx *db.Tx, conn string) error {
			_, _, err := tx.ApplyHealth(ctx, conn, poblysh.HealthEvent{Kind: poblysh.EventCredentialsRejected})
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			s, p, in, tenant, conn := retractingIntake(t)
			deliver := func(b retractingBody) *Outcome {
				t.Helper()
				body, err := json.Marshal(b)
				require.NoError(t, err)
				out, err := in.Receive(ctx, p, &connectors.WebhookRequest{Body: body, Now: time.Now()})
				require.NoError(t, err)
				return out
			}
			require.Equal(t, Accepted, deliver(retractingBody{ID: "e1", Posted: []string{"msg:C1:1"}}).Status)
			require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error { return tc.become(ctx, tx, conn) }))

			out := deliver(retractingBody{ID: "e2", Posted: []string{"msg:C1:2"}, Deleted: []string{"msg:C1:1"}})
			require.Equal(t, Outcome{Status: Accepted, DeliveryID: "e2", Connections: 1}, *out)
			require.Equal(t, Unroutable, deliver(retractingBody{ID: "e3", Posted: []string{"msg:C1:3"}}).Status)

			type stored struct {
				Key       string `db:"dedupe_key"`
				Retracted bool   `db:"retracted"`
			}
			var signals []stored
			var tombstones []string
			type event struct {
				ID      string `db:"delivery_id"`
				Status  string `db:"status"`
				Conns   string `db:"conns"`
				Signals int    `db:"signals"`
			}
			var events []event
			require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
				if err := tx.SelectContext(ctx, &signals, `SELECT dedupe_key,
						coalesce(payload->'attributes'->>'retracted' = 'true', false) AS retracted
					FROM signals ORDER BY dedupe_key`); err != nil {
					return err
				}
				if err := tx.SelectContext(ctx, &tombstones, `SELECT dedupe_key FROM signal_tombstones WHERE connection_id = $1`, conn); err != nil {
					return err
				}
				return tx.SelectContext(ctx, &events, `SELECT delivery_id, status, signals,
						array_to_string(connection_ids, ',') AS conns
					FROM webhook_events ORDER BY delivery_id`)
			}))
			require.Equal(t, []stored{{Key: "retracting:msg:C1:1", Retracted: true}}, signals,
				"the deleted message is retracted; nothing is stored for the inactive connection")
			require.Equal(t, []string{"retracting:msg:C1:1"}, tombstones)
			require.Equal(t, []event{
				{ID: "e1", Status: Accepted, Conns: conn, Signals: 1},
				{ID: "e2", Status: Accepted, Conns: conn, Signals: 0},
				{ID: "e3", Status: Unroutable, Conns: "", Signals: 0},
			}, events)
		})
	}
}

// retractionState lists the tenant's Signals (key, retracted) and the
// connection's tombstones, by key.
func retractionState(t *testing.T, d *db.DB, tenant, conn string) (signals []string, tombstones []string) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, d.WithSystem(ctx, func(tx *db.Tx) error {
		if err := tx.SelectContext(ctx, &signals, `SELECT dedupe_key || CASE WHEN payload->'attributes'->>'retracted' = 'true'
				THEN ' retracted' ELSE '' END FROM signals WHERE tenant_id = $1 ORDER BY dedupe_key`, tenant); err != nil {
			return err
		}
		return tx.SelectContext(ctx, &tombstones, `SELECT dedupe_key FROM signal_tombstones WHERE connection_id = $1 ORDER BY dedupe_key`, conn)
	}))
	return signals, tombstones
}

// A retraction's keys are cleaned for Postgres as the keys of the Signals
// they retract were stored (ingest.Rows: NULs removed, invalid UTF-8
// replaced): a deletion whose key holds a NUL retracts the Signal stored
// for that key, whether it commits after the store (db.Tx.RetractSignals)
// or before it (re-applied once the store has committed). Postgres
// refused such a key (0x00 in text), so the signed deletion was answered
// 503 at every retry and the message stayed in the feed.
func TestRetractionKeysAreCleanedAsSignalKeys(t *testing.T) {
	t.Parallel()
	s, p, in, tenant, conn := retractingIntake(t)
	deliver := deliverAccepted(t, in, p)
	deliver(retractingBody{ID: "e1", Posted: []string{"msg:C1:1\x00"}})
	deliver(retractingBody{ID: "e2", Deleted: []string{"msg:C1:1\x00", "msg:C1:\x002"}})
	deliver(retractingBody{ID: "e3", Posted: []string{"msg:C1:\x002", "msg:C1:3"}})

	signals, tombstones := retractionState(t, s.DB, tenant, conn)
	require.Equal(t, []string{"retracting:msg:C1:1 retracted", "retracting:msg:C1:2 retracted", "retracting:msg:C1:3"}, signals)
	require.Equal(t, []string{"retracting:msg:C1:1", "retracting:msg:C1:2"}, tombstones)
}

// slackEnv is the intake over a fresh schema with the real Slack connector
// (signing secret slackSecret) and one connection of the workspace of the
// connector's testdata events, routed by every key those events carry.
type slackEnv struct {
	in           *Intake
	p            *connectors.Provider
	db           *db.DB
	tenant, conn string
	// events are the connector's testdata event bodies, by file name.
	events map[string][]byte
}

const slackSecret = "slack-signing-secret-for-intake-tests"

func newSlackEnv(tb testing.TB) *slackEnv {
	tb.Helper()
	ctx := context.Background()
	s := dbtest.NewSchema(tb)
	env := map[string]string{"POBLYSH_SLACK_CLIENT_ID": "id", "POBLYSH_SLACK_CLIENT_SECRET": "secret", "POBLYSH_SLACK_WEBHOOK_SECRET": slackSecret}
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(tb, err)
	p, ok := reg.Get("slack")
	require.True(tb, ok)
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	e := &slackEnv{p: p, db: s.DB, events: map[string][]byte{}}
	e.in = &Intake{DB: s.DB, KeyRing: dbtest.KeyRing(tb), Nudger: &nudges{p: p}, Log: log}
	files, err := filepath.Glob(filepath.Join("..", "connectors", "slack", "testdata", "events", "*.json"))
	require.NoError(tb, err)
	require.NotEmpty(tb, files)
	keys := map[string]bool{}
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(tb, err)
		e.events[strings.TrimSuffix(filepath.Base(f), ".json")] = body
		d, err := p.Connector.(connectors.WebhookReceiver).ParseWebhook(&connectors.WebhookRequest{Body: body, Now: time.Now()})
		require.NoError(tb, err, f)
		for _, k := range d.RouteKeys {
			keys[k] = true
		}
	}
	var routes []db.Route
	for k := range keys {
		routes = append(routes, db.Route{RouteKey: k})
	}
	e.tenant, e.conn = dbtest.Seed(tb, s.DB, "slack", "slack", "T024BE7LD")
	require.NoError(tb, s.DB.WithTenant(ctx, e.tenant, func(tx *db.Tx) error {
		return tx.ReplaceRoutes(ctx, e.conn, "slack", routes)
	}))
	return e
}

// request is body as Slack signs it now.
func (e *slackEnv) request(body []byte) *connectors.WebhookRequest {
	now := time.Now()
	ts := strconv.FormatInt(now.Unix(), 10)
	m := hmac.New(sha256.New, []byte(slackSecret))
	m.Write([]byte("v0:" + ts + ":"))
	m.Write(body)
	return &connectors.WebhookRequest{Now: now, Body: body, Header: http.Header{
		"Content-Type": {"application/json"}, "X-Slack-Request-Timestamp": {ts},
		"X-Slack-Signature": {"v0=" + hex.EncodeToString(m.Sum(nil))}}}
}

// A signed Slack deletion whose deleted_ts (or a tombstone's message.ts)
// holds a NUL is stored, its key cleaned as the message's was: it was
// answered 503 at every retry (Postgres refuses 0x00 in text), while a
// NUL in the ids the intake checks (delivery id, event, route keys) is a
// 400.
func TestSlackDeletionWithANULIsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newSlackEnv(t)
	out, err := e.in.Receive(ctx, e.p, e.request(e.events["message"]))
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.Equal(t, 1, out.Signals)

	deleted := strings.Replace(string(e.events["message_deleted"]), `"deleted_ts": "1767272460.000300"`, `"deleted_ts": "1767272400.000200\u0000"`, 1)
	require.NotEqual(t, string(e.events["message_deleted"]), deleted)
	// The tombstone that replaces a deleted message with replies names it in
	// message.ts (its first "ts").
	tombstone := strings.Replace(string(e.events["message_changed_tombstone"]), `"ts": "1767272400.000200"`, `"ts": "1767272400.000200\u0000"`, 1)
	require.NotEqual(t, string(e.events["message_changed_tombstone"]), tombstone)
	for _, body := range []string{deleted, tombstone} {
		req := e.request([]byte(body))
		out, err = e.in.Receive(ctx, e.p, req)
		require.NoError(t, err, "a signed deletion with a NUL in its message's ts")
		require.Equal(t, Accepted, out.Status)
		out, err = e.in.Receive(ctx, e.p, req)
		require.NoError(t, err)
		require.Equal(t, Duplicate, out.Status, "Slack's retry")
	}

	signals, tombstones := retractionState(t, e.db, e.tenant, e.conn)
	require.Equal(t, []string{"slack:msg:C061EG9SL:1767272400.000200 retracted"}, signals)
	require.Equal(t, []string{"slack:msg:C061EG9SL:1767272400.000200"}, tombstones)

	// A NUL in a route key (the channel) is still the sender's 400.
	badChannel := strings.Replace(string(e.events["message_deleted"]), `"channel": "C061EG9SL"`, `"channel": "C061EG9SL\u0000"`, 1)
	badChannel = strings.Replace(badChannel, `"event_id": "`, `"event_id": "bad-`, 1)
	_, err = e.in.Receive(ctx, e.p, e.request([]byte(badChannel)))
	require.Equal(t, poblysh.EINVALID, poblysh.ErrorCode(err), "answered %v", err)
}

// deliverAccepted delivers a retracting body through in, requiring it
// accepted.
func deliverAccepted(t *testing.T, in *Intake, p *connectors.Provider) func(retractingBody) {
	return func(b retractingBody) {
		t.Helper()
		body, err := json.Marshal(b)
		require.NoError(t, err)
		out, err := in.Receive(context.Background(), p, &connectors.WebhookRequest{Body: body, Now: time.Now()})
		require.NoError(t, err)
		require.Equal(t, Accepted, out.Status)
	}
}

// A delivery that only retracts writes Signals too (its UPDATE, and its
// tombstones): while its transaction is open, every tenant's feed is held
// (the feed horizon). One whose process stops just before its COMMIT (a
// frozen or vanished host) held them until the server dropped the session,
// over two hours with the server's defaults; the delivery now takes the
// signals writer lock as one with Signals does, and with it the bound on
// how long its transaction may sit idle (db.Options.SignalWriterIdle, 1 s
// here): the server ends it, another tenant's Signal is served, and the
// delivery fails (the provider sends it again) with nothing of it kept.
func TestStoppedRetractionIsEndedByTheServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, p, _, tenant, _ := retractingIntake(t)
	other, otherConn := dbtest.Seed(t, s.DB, "other", "fake", "acct")
	proxy := dbtest.NewProxy(t, dbtest.URL(t))
	d, err := db.Open(ctx, proxy.URL(dbtest.URL(t)), db.Options{Role: "poblysh_app", Schema: s.Name, MaxConns: 2, SignalWriterIdle: time.Second})
	require.NoError(t, err)
	t.Cleanup(d.Close)
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	in := &Intake{DB: d, Log: log}
	deliver := func(b retractingBody) (*Outcome, error) {
		body, err := json.Marshal(b)
		require.NoError(t, err)
		return in.Receive(ctx, p, &connectors.WebhookRequest{Body: body, Now: time.Now()})
	}
	out, err := deliver(retractingBody{ID: "e1", Posted: []string{"msg:C1:1"}})
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)

	var served []db.Signal
	held := make(chan struct{})
	proxy.HoldAt("COMMIT", func() {
		defer close(held)
		// The deletion's transaction has run its statements; its process
		// stops before the COMMIT. Another tenant stores a Signal.
		require.NoError(t, s.DB.WithTenantSignals(ctx, other, func(tx *db.Tx) error {
			_, err := tx.InsertSignals(ctx, otherConn, "fake", []db.NewSignal{{Kind: "item.created", OccurredAt: time.Now(), DedupeKey: "b1", Payload: []byte(`{"title":"b"}`)}})
			return err
		}))
		// Bounded far above the 1 s: the feed is not held for good.
		for deadline := time.Now().Add(20 * time.Second); len(served) == 0 && time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			var err error
			served, _, err = s.DB.ListFeed(ctx, other, db.SignalFilter{Limit: 10})
			require.NoError(t, err)
		}
	})
	_, err = deliver(retractingBody{ID: "e2", Deleted: []string{"msg:C1:1"}})
	<-held // the server's end of the session may answer the delivery first
	require.Len(t, served, 1, "the other tenant's Signal is withheld by the stopped deletion")
	require.Error(t, err, "the stopped deletion's session was ended: it is not acknowledged")
	tombstones := func() int {
		var n int
		require.NoError(t, s.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signal_tombstones`)
		}))
		return n
	}
	require.Zero(t, tombstones(), "nothing of the stopped deletion is kept")

	out, err = deliver(retractingBody{ID: "e2", Deleted: []string{"msg:C1:1"}})
	require.NoError(t, err, "sent again, it is stored")
	require.Equal(t, Accepted, out.Status)
	require.Equal(t, 1, tombstones())
}
