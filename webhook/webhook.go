// Package webhook is the intake of provider webhook deliveries, in three
// steps: verify and parse (the provider's signature over the raw body
// before anything is parsed, with the secret of the channel the delivery
// names where the provider signs per channel), route and record (to the
// connections that proved the resources the delivery is about, recorded
// once per provider delivery id and signed body), and store (the Signals,
// through the ingest package, or a coalesced sync nudge for notify-only
// pushes). Nothing is acknowledged that was not stored: any storage
// failure is an error, so the provider retries.
package webhook

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/ingest"
	"github.com/poblysh/poblysh/metrics"
	"github.com/poblysh/poblysh/vault"
)

// Delivery outcomes.
const (
	Accepted   = "accepted"
	Duplicate  = "duplicate"
	Unroutable = "unroutable"
	Ignored    = "ignored"
)

// Outcome is what the intake did with a delivery.
type Outcome struct {
	Status      string
	DeliveryID  string
	Signals     int
	Connections int
	// Reply is answered verbatim (Slack url_verification).
	Reply *connectors.WebhookReply
}

// ErrBadSignature is returned when a delivery fails verification.
var ErrBadSignature = &poblysh.Error{Code: poblysh.EUNAUTHORIZED, Message: "webhook signature verification failed"}

// commitTimeout bounds the intake of one delivery whose body was read
// (verification, with the lookup of its channel's secret, and the
// transaction), which runs on when its sender hangs up. It is past every
// provider's response budget, so it ends only work that Postgres hangs,
// and as long as the API's default shutdown drain
// (POBLYSH_SHUTDOWN_TIMEOUT).
const commitTimeout = 30 * time.Second

// Nudger asks a connection's streams for a coalesced incremental pass
// (engine.Engine).
type Nudger interface {
	// Streams lists a connection's streams: those a notification that
	// names no stream nudges.
	Streams(c *db.Connection) ([]string, error)
	// NudgeStream nudges one stream: one round trip to Temporal. It fails
	// unavailable only when Temporal did not serve it.
	NudgeStream(ctx context.Context, c *db.Connection, stream string, trigger poblysh.Trigger) error
}

// Rewatcher starts a connection's watch pass (engine.Engine).
type Rewatcher interface {
	StartWatchReconcile(ctx context.Context, ref poblysh.ConnectionRef, trigger poblysh.Trigger) error
}

// Intake takes in webhook deliveries.
type Intake struct {
	DB *db.DB
	// KeyRing decrypts channel secrets for verification.
	KeyRing *vault.KeyRing
	Nudger  Nudger
	// Watches starts the watch pass of a connection whose channel a
	// delivery says is gone (connectors.WebhookDelivery.ChannelGone), once
	// the delivery has marked it due. Nil, or a start that fails or is
	// skipped (Temporal down: see rewatch), leaves the pass to the renewal
	// sweep, which lists due channels.
	Watches Rewatcher
	Log     *logrus.Logger

	// down remembers for a moment that Temporal did not answer a nudge.
	down temporalDown
}

// Receive handles one delivery for provider p end to end: verify and parse,
// then route, record and store in one transaction, so a redelivery stores
// nothing new and a failure stores nothing at all. req.Body has been read
// (on the sender's request); nothing is answered before the commit.
func (in *Intake) Receive(ctx context.Context, p *connectors.Provider, req *connectors.WebhookRequest) (*Outcome, error) {
	provider := p.Spec.Name
	// A delivery is verified and stored whether or not its sender still
	// waits: a provider that hangs up at its deadline (Slack's 3 s,
	// GitHub's 10 s) while the transaction runs used to roll it back, and
	// a notify-only push's nudge, recorded for want of Temporal, went with
	// it; one that hung up while Postgres was slow to look up the secret
	// of the channel that signed it (a GitHub repository hook) was
	// answered 503 with nothing stored. Not every provider retries (GitHub
	// does not), so its own bound replaces the caller's, from the first
	// lookup to the last statement.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	d, err := in.verify(cctx, p, req)
	if err != nil {
		return nil, err
	}
	if d.Reply != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "challenge").Inc()
		return &Outcome{Status: Accepted, DeliveryID: d.DeliveryID, Reply: d.Reply}, nil
	}
	out, stored, err := in.commit(cctx, provider, d)
	if err == nil {
		in.reapply(cctx, d)
		if out.Status == Accepted && d.channelGone() {
			in.rewatch(cctx, provider, d.channel)
		}
	}
	if err != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "error").Inc()
		var pe *poblysh.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, poblysh.Unavailable("webhook store", err)
	}
	metrics.WebhookDeliveries.WithLabelValues(provider, out.Status).Inc()
	for _, st := range stored {
		d.batch.Count(st)
	}
	if out.Status == Accepted {
		d.batch.ObserveLag(time.Now())
	}
	if log := in.log(); log.IsLevelEnabled(logrus.InfoLevel) { // the fields are built only for a line written
		log.WithFields(logrus.Fields{"provider": provider, "delivery_id": d.DeliveryID, "event": d.Event,
			"status": out.Status, "signals": out.Signals, "connections": out.Connections}).Info("webhook received")
	}
	return out, nil
}

// commit routes, records and stores a verified delivery in one transaction
// and returns the outcome with what each insert stored.
func (in *Intake) commit(ctx context.Context, provider string, d *delivery) (*Outcome, []db.Stored, error) {
	var out *Outcome
	var stored []db.Stored
	// The transaction opens with BEGIN, its scope (and, for a delivery
	// with Signals, the signals writer lock: db.Tx.LockSignals) and the
	// route lookup, in one round trip. A delivery that only retracts
	// takes the lock too: its UPDATE of signals holds every tenant's feed
	// as an insert does, and the lock bounds how long the transaction may
	// then sit idle should this process stop in its middle
	// (db.Options.SignalWriterIdle).
	lock := len(d.batch.Rows) > 0 || len(d.Retract) > 0
	err := in.DB.WithSystemRoutes(ctx, lock, provider, d.RouteKeys, func(tx *db.Tx, routes []db.Route) error {
		out, stored, d.reapplyIn = &Outcome{DeliveryID: d.DeliveryID}, nil, nil
		rt, err := in.route(ctx, tx, provider, d, routes)
		if err != nil {
			return err
		}
		out.Status, out.Connections = rt.status, rt.connections
		if rt.status != Duplicate && d.channelGone() {
			// Due whether or not its connection takes deliveries now: a
			// paused one's resume runs the pass that registers it again.
			if _, err := tx.MarkChannelDue(ctx, d.channel.ID); err != nil {
				return err
			}
		}
		if rt.status != Accepted {
			return nil
		}
		stored, err = in.store(ctx, tx, d, rt)
		for _, st := range stored {
			out.Signals += len(st.Kinds)
		}
		return err
	})
	return out, stored, err
}

// reapply re-applies, once a delivery has committed, the retractions
// recorded for what it stored and for what it retracted, in each tenant
// it reached (ingest.Batch.Reapply): whichever of a store and a
// retraction of the same Signal commits later marks it. Only a delivery
// that retracts, or stores Signals of a provider that retracts, runs a
// statement here. A failure is logged, not answered: the delivery is
// stored, and a redelivery would be a duplicate that re-applies nothing;
// the daily retention run re-applies every tombstone (db.Tx.Prune).
func (in *Intake) reapply(ctx context.Context, d *delivery) {
	for _, tenantID := range d.reapplyIn {
		if err := d.batch.Reapply(ctx, in.DB, tenantID, d.Retract); err != nil {
			in.log().WithError(err).WithFields(logrus.Fields{"provider": d.batch.Provider, "delivery_id": d.DeliveryID,
				"tenant_id": tenantID}).Warn("could not re-apply retractions; the retention run will")
		}
	}
}

// rewatch starts the watch pass of the connection whose channel a
// committed delivery said is gone (and marked due): the pass registers it
// again. It runs before the delivery is answered, so it has a nudge's
// bound (nudgeTimeout), and is skipped while a nudge or another start
// found Temporal down (temporalDown); one that runs out of its bound
// marks Temporal down. It used to have the delivery's 30 s store bound:
// with Temporal hanging, GitHub's 10 s for the answer ran out. A start
// skipped or failed is logged only: the commit marked the channel due
// (db.Tx.MarkChannelDue: it expires now), and the renewal sweep
// (db.Tx.WatchesDue, every POBLYSH_RENEWAL_INTERVAL) starts the pass of
// every active connection with a due channel; a paused one's resume runs
// it.
func (in *Intake) rewatch(ctx context.Context, provider string, ch *db.WatchChannel) {
	if in.Watches == nil {
		return
	}
	log := in.log().WithFields(logrus.Fields{"provider": provider, "connection_id": ch.ConnectionID, "channel_id": ch.ChannelID})
	if in.down.down() {
		log.Warn("temporal unreachable: the watch pass of a channel gone at the provider is left to the renewal sweep")
		return
	}
	ref := poblysh.ConnectionRef{TenantID: ch.TenantID, ConnectionID: ch.ConnectionID, Provider: provider}
	sctx, cancel := context.WithTimeout(ctx, nudgeTimeout)
	err := in.Watches.StartWatchReconcile(sctx, ref, poblysh.TriggerWebhook)
	hung := sctx.Err() != nil && ctx.Err() == nil
	cancel()
	if err == nil {
		return
	}
	if hung {
		in.down.mark()
	}
	log.WithError(err).Warn("could not start the watch pass of a channel gone at the provider; the renewal sweep starts it")
}

func (in *Intake) log() *logrus.Logger {
	if in.Log == nil {
		return logrus.StandardLogger()
	}
	return in.Log
}

// delivery is a verified, parsed delivery.
type delivery struct {
	*connectors.WebhookDelivery
	// channel is the service's own channel the delivery named, whose
	// secret verified it (ChannelKeyed providers); nil otherwise.
	channel *db.WatchChannel
	body    []byte
	// oneAccount: the provider's route keys each name one account
	// (connectors.Spec.RouteKeysNameOneAccount).
	oneAccount bool
	// batch holds the delivery's Signals, converted for storage.
	batch *ingest.Batch
	// reapplyIn are the tenants whose retractions the delivery re-applies
	// once committed (reapply): those it stored Signals of a provider that
	// retracts for, or retracted Signals in.
	reapplyIn []string
}

// channelGone reports whether the delivery says the service's channel that
// verified it is gone at the provider.
func (d *delivery) channelGone() bool { return d.ChannelGone && d.channel != nil }

// verify checks the provider's signature over the raw body before anything
// is parsed, then parses the delivery and converts its Signals. A delivery
// that names one of the service's own channels (a repository hook) is
// verified with that channel's secret.
func (in *Intake) verify(ctx context.Context, p *connectors.Provider, req *connectors.WebhookRequest) (*delivery, error) {
	provider := p.Spec.Name
	recv, ok := p.Connector.(connectors.WebhookReceiver)
	if !ok {
		return nil, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "provider " + provider + " does not receive webhooks"}
	}
	channel, err := in.deliveryChannel(ctx, p, req)
	if err != nil {
		return nil, err
	}
	if err := recv.VerifyWebhook(req); err != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "bad_signature").Inc()
		in.log().WithFields(logrus.Fields{"provider": provider, "reason": err.Error()}).Warn("webhook rejected")
		return nil, ErrBadSignature
	}
	parsed, err := recv.ParseWebhook(req)
	if err != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "invalid").Inc()
		return nil, &poblysh.Error{Code: poblysh.EINVALID, Message: "webhook payload could not be parsed: " + err.Error()}
	}
	d := &delivery{WebhookDelivery: parsed, channel: channel, body: req.Body, oneAccount: p.Spec.RouteKeysNameOneAccount}
	if parsed.Reply != nil {
		return d, nil
	}
	// The delivery id, event and route keys come from the signed body and
	// are stored or looked up as text: one that Postgres cannot hold would
	// fail the transaction, a 5xx the provider retries forever.
	for _, s := range append([]string{parsed.DeliveryID, parsed.Event}, parsed.RouteKeys...) {
		if strings.IndexByte(s, 0) >= 0 || !utf8.ValidString(s) {
			metrics.WebhookDeliveries.WithLabelValues(provider, "invalid").Inc()
			return nil, &poblysh.Error{Code: poblysh.EINVALID, Message: "webhook payload names an id that is not valid text"}
		}
	}
	if d.batch, err = ingest.NewBatch(provider, parsed.Signals); err != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "invalid").Inc()
		if errors.Is(err, ingest.ErrIncomplete) {
			// A signed payload the connector cannot date or key: no retry
			// fixes it, so it is the sender's 400, not a 500.
			return nil, &poblysh.Error{Code: poblysh.EINVALID, Message: "webhook payload could not be parsed: " + err.Error()}
		}
		return nil, fmt.Errorf("webhook %s: %w", provider, err)
	}
	d.batch.Retracts = p.Spec.Retracts
	return d, nil
}

// deliveryChannel loads the channel a delivery names (ChannelKeyed
// providers) and puts its secret on req for VerifyWebhook. An unknown or
// stopped channel leaves the secret empty, so verification fails closed.
func (in *Intake) deliveryChannel(ctx context.Context, p *connectors.Provider, req *connectors.WebhookRequest) (*db.WatchChannel, error) {
	ck, ok := p.Connector.(connectors.ChannelKeyed)
	if !ok {
		return nil, nil
	}
	id, ok := ck.DeliveryChannel(req)
	if !ok {
		return nil, nil
	}
	var ch *db.WatchChannel
	err := in.DB.WithSystem(ctx, func(tx *db.Tx) (err error) {
		ch, err = tx.ChannelSecret(ctx, in.KeyRing, p.Spec.Name, id)
		return err
	})
	switch {
	case poblysh.ErrorCode(err) == poblysh.ENOTFOUND:
		return nil, nil
	case err != nil:
		return nil, poblysh.Unavailable("webhook store", err)
	}
	req.ChannelSecret = ch.Secret
	return ch, nil
}
