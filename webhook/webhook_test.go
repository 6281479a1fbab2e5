package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	_ "github.com/poblysh/poblysh/connectors/fake" // the engine's test provider
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
	"github.com/poblysh/poblysh/vault"
)

const secret = "webhook-secret-for-intake-tests"

// nudges records the sync nudges the intake sends. The connections'
// streams are the fake connector's ("items" unless configured).
type nudges struct {
	p     *connectors.Provider
	mu    sync.Mutex
	calls []string
	// err, when set, is what every nudge fails with (Temporal down).
	err error
}

func (n *nudges) Streams(c *db.Connection) ([]string, error) {
	return n.p.Connector.(connectors.Syncer).Streams(lifecycle.View(c))
}

func (n *nudges) NudgeStream(_ context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.err != nil {
		return n.err
	}
	n.calls = append(n.calls, fmt.Sprintf("%s %q %s", c.ID, stream, trigger))
	return nil
}

func (n *nudges) fail(err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.err = err
}

// intakeEnv is the intake over a fresh schema: two tenants connected to
// the fake provider's account "acct" (routed by "account:acct"), and one
// to "other".
type intakeEnv struct {
	t      testing.TB
	in     *Intake
	p      *connectors.Provider
	nudges *nudges
	conns  map[string]*db.Connection // by tenant name
}

func setup(t testing.TB) *intakeEnv {
	t.Helper()
	ctx := context.Background()
	s := dbtest.NewSchema(t)
	env := map[string]string{"POBLYSH_FAKE_CLIENT_ID": "id", "POBLYSH_FAKE_CLIENT_SECRET": "secret", "POBLYSH_FAKE_WEBHOOK_SECRET": secret}
	reg, err := connectors.Build(connectors.Registered(), func(k string) string { return env[k] }, "http://127.0.0.1:1", false)
	require.NoError(t, err)
	p, _ := reg.Get("fake")
	key, err := vault.ParseKey(vault.GenerateKey())
	require.NoError(t, err)
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	e := &intakeEnv{t: t, p: p, nudges: &nudges{p: p}, conns: map[string]*db.Connection{}}
	e.in = &Intake{DB: s.DB, KeyRing: vault.NewKeyRing(key), Nudger: e.nudges, Log: log}
	for name, acct := range map[string]string{"a": "acct", "b": "acct", "c": "other"} {
		var tenantID string
		require.NoError(t, s.DB.WithSystem(ctx, func(tx *db.Tx) error {
			tn, _, _, err := tx.CreateTenant(ctx, name)
			tenantID = tn.ID
			return err
		}))
		require.NoError(t, s.DB.WithTenant(ctx, tenantID, func(tx *db.Tx) error {
			c, _, err := tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: "fake", ExternalAccountID: acct, DisplayName: acct})
			if err != nil {
				return err
			}
			e.conns[name] = c
			return lifecycle.RebuildRoutes(ctx, tx, p, c)
		}))
	}
	return e
}

// request is a delivery as the fake provider signs it (signed false: a
// forged signature).
func (e *intakeEnv) request(d fakesandbox.Delivery, signed bool) *connectors.WebhookRequest {
	body, err := json.Marshal(d)
	require.NoError(e.t, err)
	h := http.Header{"X-Fake-Delivery": {d.DeliveryID}, "X-Fake-Signature": {fakesandbox.Sign("forged", body)}}
	if signed {
		h.Set("X-Fake-Signature", fakesandbox.Sign(secret, body))
	}
	return &connectors.WebhookRequest{Header: h, Body: body, Now: time.Now()}
}

func items(n int) []fakesandbox.Item {
	out := make([]fakesandbox.Item, n)
	for i := range out {
		out[i] = fakesandbox.MakeItem("items", i+1)
	}
	return out
}

// route looks up d's routes in tx and routes d, as Receive does (whose
// transaction looks them up in its opening round trip).
func (e *intakeEnv) route(ctx context.Context, tx *db.Tx, d *delivery) (*routed, error) {
	routes, err := tx.LookupRoutes(ctx, "fake", d.RouteKeys)
	if err != nil {
		return nil, err
	}
	return e.in.route(ctx, tx, "fake", d, routes)
}

// inTx runs f in a system transaction, as Receive does.
func (e *intakeEnv) inTx(f func(tx *db.Tx) error) {
	e.t.Helper()
	require.NoError(e.t, e.in.DB.WithSystem(context.Background(), f))
}

// TestVerify: the signature is checked over the raw body before anything
// is parsed; a signed body that does not parse is a client error; a good
// one comes back parsed, its Signals converted for storage.
func TestVerify(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()

	_, err := e.in.verify(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "d1", Account: "acct", Items: items(2)}, false))
	require.ErrorIs(t, err, ErrBadSignature)

	bad := &connectors.WebhookRequest{Header: http.Header{"X-Fake-Delivery": {"d2"}, "X-Fake-Signature": {fakesandbox.Sign(secret, []byte("{"))}}, Body: []byte("{")}
	_, err = e.in.verify(ctx, e.p, bad)
	require.Equal(t, poblysh.EINVALID, poblysh.ErrorCode(err), "%v", err)

	d, err := e.in.verify(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "d3", Account: "acct", Items: items(2)}, true))
	require.NoError(t, err)
	require.Equal(t, "d3", d.DeliveryID)
	require.Equal(t, []string{"account:acct"}, d.RouteKeys)
	require.Len(t, d.batch.Rows, 2)
	require.Equal(t, "fake", d.batch.Provider)
	require.Nil(t, d.channel, "the fake provider signs with its provider-wide secret")
}

// TestRoute: a delivery reaches the active connections its route keys
// name and is recorded once; a redelivery is a duplicate; a delivery for
// nobody is unroutable; one with nothing to store is ignored; a paused
// connection takes no deliveries (but their retractions:
// TestDeletionRetractsForInactiveConnection).
func TestRoute(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	verified := func(d fakesandbox.Delivery) *delivery {
		v, err := e.in.verify(ctx, e.p, e.request(d, true))
		require.NoError(t, err)
		return v
	}
	route := func(d *delivery) *routed {
		var rt *routed
		e.inTx(func(tx *db.Tx) (err error) {
			rt, err = e.route(ctx, tx, d)
			return err
		})
		return rt
	}
	d := verified(fakesandbox.Delivery{DeliveryID: "r1", Account: "acct", Items: items(1)})
	rt := route(d)
	require.Equal(t, Accepted, rt.status)
	require.Equal(t, 2, rt.connections)
	require.ElementsMatch(t, []string{e.conns["a"].ID, e.conns["b"].ID}, []string{rt.reached[0].ConnectionID, rt.reached[1].ConnectionID})
	require.Equal(t, &routed{status: Duplicate}, route(d), "recorded once by delivery id")

	require.Equal(t, Unroutable, route(verified(fakesandbox.Delivery{DeliveryID: "r2", Account: "nobody", Items: items(1)})).status)
	require.Equal(t, Ignored, route(verified(fakesandbox.Delivery{DeliveryID: "r3", Account: "acct"})).status)
	require.Equal(t, Accepted, route(verified(fakesandbox.Delivery{DeliveryID: "r4", Account: "acct", Notify: true})).status,
		"a notify-only push has nothing to store but a sync to nudge")

	e.inTx(func(tx *db.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE connections SET paused = true WHERE id = $1`, e.conns["b"].ID)
		return err
	})
	rt = route(verified(fakesandbox.Delivery{DeliveryID: "r5", Account: "acct", Items: items(1)}))
	require.Equal(t, 1, rt.connections)
	require.Equal(t, e.conns["a"].ID, rt.reached[0].ConnectionID)
}

// TestStore: an accepted delivery's Signals are stored once for each
// connection it reached (the same happening twice is a duplicate), the
// delivery's record counts them, and a notify-only push nudges each
// active connection's streams.
func TestStore(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	store := func(d fakesandbox.Delivery) ([]db.Stored, *delivery) {
		v, err := e.in.verify(ctx, e.p, e.request(d, true))
		require.NoError(t, err)
		var stored []db.Stored
		e.inTx(func(tx *db.Tx) error {
			rt, err := e.route(ctx, tx, v)
			if err != nil {
				return err
			}
			stored, err = e.in.store(ctx, tx, v, rt)
			return err
		})
		return stored, v
	}
	stored, _ := store(fakesandbox.Delivery{DeliveryID: "s1", Account: "acct", Items: items(3)})
	require.Len(t, stored, 2, "one insert per connection")
	for _, st := range stored {
		require.Len(t, st.Kinds, 3)
		require.Zero(t, st.Duplicates)
	}
	var n, recorded int
	e.inTx(func(tx *db.Tx) error {
		if err := tx.GetContext(ctx, &n, `SELECT count(*) FROM signals`); err != nil {
			return err
		}
		return tx.GetContext(ctx, &recorded, `SELECT signals FROM webhook_events WHERE delivery_id = 's1'`)
	})
	require.Equal(t, 6, n)
	require.Equal(t, 6, recorded)

	stored, _ = store(fakesandbox.Delivery{DeliveryID: "s2", Account: "acct", Items: items(4)})
	for _, st := range stored {
		require.Len(t, st.Kinds, 1, "items 1-3 were stored by s1")
		require.Equal(t, 3, st.Duplicates)
	}
	e.inTx(func(tx *db.Tx) error {
		return tx.GetContext(ctx, &recorded, `SELECT signals FROM webhook_events WHERE delivery_id = 's2'`)
	})
	require.Equal(t, 2, recorded, "the record counts what was stored, not what was sent")
	require.Empty(t, e.nudges.calls, "deliveries with Signals nudge nothing")

	_, _ = store(fakesandbox.Delivery{DeliveryID: "s3", Account: "acct", Notify: true})
	require.ElementsMatch(t, []string{e.conns["a"].ID + ` "items" webhook`, e.conns["b"].ID + ` "items" webhook`}, e.nudges.calls)
}

// TestPayloadBesideADelete: a delivery with Signals routed to two
// connections, one of which is deleted once the delivery has looked up its
// routes, is stored for both. Unlike a nudge, a Signal reads no connection
// row, and the delete is soft: the row stays, so the Signals' foreign key
// holds (and its check's key-share lock does not wait for the delete's
// update). The deleted connection's Signals are then those of a delivery
// that committed just before the delete: kept, or with purge_signals
// purged by DB.PurgeConnectionSignals' second pass (api's
// TestPurgeCatchesADeliveryStoredBesideTheDelete).
func TestPayloadBesideADelete(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	type result struct {
		out *Outcome
		err error
	}
	done := make(chan result, 1)
	rollback := errors.New("roll back")
	// An uncommitted record of the same delivery id holds the delivery at
	// its record, after its route lookup, while the delete commits.
	err := e.in.DB.WithSystem(ctx, func(tx *db.Tx) error {
		var pid int
		if err := tx.GetContext(ctx, &pid, `INSERT INTO webhook_events (provider, delivery_id, status)
			VALUES ('fake', 'beside', 'ignored') RETURNING pg_backend_pid()`); err != nil {
			return err
		}
		go func() {
			out, err := e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "beside", Account: "acct", Items: items(3)}, true))
			done <- result{out, err}
		}()
		require.Eventually(t, func() (held bool) {
			err := e.in.DB.WithSystem(ctx, func(tx *db.Tx) error {
				return tx.GetContext(ctx, &held, `SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE $1 = ANY (pg_blocking_pids(pid)))`, pid)
			})
			return err == nil && held
		}, 20*time.Second, 10*time.Millisecond, "the delivery waits at its record")
		require.NoError(t, e.deleteConnection(e.conns["b"]))
		return rollback
	})
	require.ErrorIs(t, err, rollback)
	res := <-done
	require.NoError(t, res.err)
	require.Equal(t, Accepted, res.out.Status)
	require.Equal(t, 6, res.out.Signals)
	for _, name := range []string{"a", "b"} {
		var n int
		e.inTx(func(tx *db.Tx) error {
			return tx.GetContext(ctx, &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, e.conns[name].ID)
		})
		require.Equal(t, 3, n, "tenant %s's connection", name)
	}
}

// TestReceive: the whole intake answers what it did, and a redelivery
// stores nothing new.
// TestReceiveStoresAHalfSurrogate: a signed GitHub push whose commit
// message holds half a surrogate pair (text cut in the middle of an emoji,
// escaped "\ud83d"), which encoding/json reads and Postgres jsonb refuses
// in the Signal's raw object, is stored once, the half as U+FFFD, instead
// of failing with a 5xx at every redelivery. It goes through the real
// GitHub connector (the layer benchmark's setup, newLayers).
func TestReceiveStoresAHalfSurrogate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := newLayers(t)
	req := e.pushes(t, 1, githubsandbox.PushInput{Commits: 1, Message: "Launch MARKER"})[0]
	body := bytes.ReplaceAll(req.Body, []byte("MARKER"), []byte(`\ud83d cut`))
	require.Equal(t, 2, bytes.Count(body, []byte(`\ud83d cut`)), "head_commit and commits[0] carry the message")
	s256, s1 := githubsandbox.Sign(body, e.secret)
	req.Body = body
	req.Header.Set("X-Hub-Signature-256", s256)
	req.Header.Set("X-Hub-Signature", s1)
	out, err := e.in.Receive(ctx, e.p, req)
	require.NoError(t, err)
	require.Equal(t, Accepted, out.Status)
	require.Equal(t, 1, out.Signals)
	var got struct {
		Subject string `db:"subject"`
		Raw     string `db:"raw_message"`
	}
	require.NoError(t, e.db.WithTenant(ctx, e.tenant, func(tx *db.Tx) error {
		return tx.GetContext(ctx, &got, `SELECT payload->'subject'->>'name' AS subject, raw->'head_commit'->>'message' AS raw_message
			FROM signals WHERE connection_id = $1 AND kind = 'code.pushed'`, e.conn)
	}))
	require.Equal(t, "Launch \uFFFD cut", got.Subject)
	require.Equal(t, "Launch \uFFFD cut", got.Raw)
	out, err = e.in.Receive(ctx, e.p, req)
	require.NoError(t, err)
	require.Equal(t, Duplicate, out.Status, "a redelivery")
}

func TestReceive(t *testing.T) {
	t.Parallel()
	e := setup(t)
	ctx := context.Background()
	req := e.request(fakesandbox.Delivery{DeliveryID: "x1", Account: "other", Items: items(2)}, true)
	out, err := e.in.Receive(ctx, e.p, req)
	require.NoError(t, err)
	require.Equal(t, &Outcome{Status: Accepted, DeliveryID: "x1", Signals: 2, Connections: 1}, out)
	out, err = e.in.Receive(ctx, e.p, req)
	require.NoError(t, err)
	require.Equal(t, &Outcome{Status: Duplicate, DeliveryID: "x1"}, out)
	_, err = e.in.Receive(ctx, e.p, e.request(fakesandbox.Delivery{DeliveryID: "x2", Account: "other"}, false))
	require.ErrorIs(t, err, ErrBadSignature)
}
