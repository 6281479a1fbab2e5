package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
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
	deliver := func(b retractingBody) {
		t.Helper()
		body, err := json.Marshal(b)
		require.NoError(t, err)
		out, err := in.Receive(ctx, p, &connectors.WebhookRequest{Body: body, Now: time.Now()})
		require.NoError(t, err)
		require.Equal(t, Accepted, out.Status)
	}
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
