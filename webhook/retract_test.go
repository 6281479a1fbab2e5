package webhook

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

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

// A deletion delivered before its message (Slack's events come in no
// promised order, and a retried message delivery comes later still)
// retracts the message when it is stored: the deletion is recorded, and
// the store of a provider that retracts re-applies what was recorded for
// its keys once it has committed. It used to be stored unretracted for
// good.
func TestMessageStoredAfterItsDeletionIsRetracted(t *testing.T) {
	t.Parallel()
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
	in := &Intake{DB: s.DB, Log: log}
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
