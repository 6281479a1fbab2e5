package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/activities"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/metrics"
)

// Webhook outcomes.
const (
	WebhookAccepted   = "accepted"
	WebhookDuplicate  = "duplicate"
	WebhookUnroutable = "unroutable"
	WebhookIgnored    = "ignored"
)

// WebhookOutcome is what the intake did with a delivery.
type WebhookOutcome struct {
	Status      string
	DeliveryID  string
	Signals     int
	Connections int
	// Reply is answered verbatim (Slack url_verification).
	Reply *connectors.WebhookReply
}

// ErrBadSignature is returned when a delivery fails verification.
var ErrBadSignature = &poblysh.Error{Code: poblysh.EUNAUTHORIZED, Message: "webhook signature verification failed"}

// Receive handles one verified-or-rejected delivery end to end: verify the
// provider's signature over the raw body before parsing anything, parse,
// route to connections, and record the delivery by its provider delivery id
// in the same transaction as the Signals it carries (or, for notify-only
// pushes, the coalesced sync nudge). A redelivery stores nothing new. Any
// storage failure returns an error so the provider retries: nothing is
// acknowledged that was not stored.
func (e *Engine) Receive(ctx context.Context, provider string, req *connectors.WebhookRequest) (*WebhookOutcome, error) {
	p, err := e.provider(provider)
	if err != nil {
		return nil, err
	}
	recv, ok := p.Connector.(connectors.WebhookReceiver)
	if !ok {
		return nil, &poblysh.Error{Code: poblysh.ENOTFOUND, Message: "provider " + provider + " does not receive webhooks"}
	}
	if err := recv.VerifyWebhook(req); err != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "bad_signature").Inc()
		e.log().WithFields(logrus.Fields{"provider": provider, "reason": err.Error()}).Warn("webhook rejected")
		return nil, ErrBadSignature
	}
	d, err := recv.ParseWebhook(req)
	if err != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "invalid").Inc()
		return nil, &poblysh.Error{Code: poblysh.EINVALID, Message: "webhook payload could not be parsed: " + err.Error()}
	}
	out := &WebhookOutcome{DeliveryID: d.DeliveryID}
	if d.Reply != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "challenge").Inc()
		out.Status, out.Reply = WebhookAccepted, d.Reply
		return out, nil
	}
	sigs, err := activities.ToNewSignals(d.Signals)
	if err != nil {
		return nil, fmt.Errorf("webhook %s: %w", provider, err)
	}
	filter, _ := p.Connector.(connectors.SignalFilter)

	err = e.DB.WithSystem(ctx, func(tx *db.Tx) error {
		*out = WebhookOutcome{DeliveryID: d.DeliveryID}
		routes, err := tx.LookupRoutes(ctx, provider, d.RouteKeys)
		if err != nil {
			return err
		}
		var live []db.Route
		for _, r := range routes {
			if !r.Paused && r.Health != string(poblysh.HealthDisabled) {
				live = append(live, r)
			}
		}
		ev := db.WebhookEvent{Provider: provider, DeliveryID: d.DeliveryID, Event: d.Event, RawBody: req.Body}
		seen := map[string]bool{}
		for _, r := range live {
			if !seen[r.ConnectionID] {
				seen[r.ConnectionID] = true
				ev.ConnectionIDs = append(ev.ConnectionIDs, r.ConnectionID)
				ev.TenantIDs = append(ev.TenantIDs, r.TenantID)
			}
		}
		switch {
		case len(live) == 0:
			ev.Status = WebhookUnroutable
		case len(d.Signals) == 0 && !d.Notify:
			ev.Status = WebhookIgnored
		default:
			ev.Status = WebhookAccepted
		}
		fresh, err := tx.RecordWebhook(ctx, ev)
		if err != nil {
			return err
		}
		if !fresh {
			out.Status = WebhookDuplicate
			return nil
		}
		out.Status, out.Connections = ev.Status, len(ev.ConnectionIDs)
		if ev.Status != WebhookAccepted {
			return nil
		}
		conns := map[string]*db.Connection{} // each routed connection is read once
		done := map[string]bool{}
		for _, r := range live {
			c, ok := conns[r.ConnectionID]
			if !ok {
				if c, err = tx.FindConnection(ctx, r.ConnectionID); err != nil {
					return err
				}
				conns[r.ConnectionID] = c
			}
			if len(sigs) > 0 && !done[r.ConnectionID] {
				done[r.ConnectionID] = true
				st, err := tx.InsertSignalsFor(ctx, r.TenantID, r.ConnectionID, provider, wanted(filter, c, d.Signals, sigs))
				if err != nil {
					return err
				}
				out.Signals += len(st.Kinds)
				for _, k := range st.Kinds {
					metrics.SignalsStored.WithLabelValues(provider, k).Inc()
				}
				if st.Duplicates > 0 {
					metrics.SignalDuplicates.WithLabelValues(provider).Add(float64(st.Duplicates))
				}
			}
			if d.Notify {
				// Nudge before commit: if Temporal is down the delivery is
				// rolled back and the provider retries it.
				if err := e.nudgeRoute(ctx, c, r); err != nil {
					return err
				}
			}
		}
		return tx.SetWebhookSignals(ctx, provider, d.DeliveryID, out.Signals)
	})
	if err != nil {
		metrics.WebhookDeliveries.WithLabelValues(provider, "error").Inc()
		var pe *poblysh.Error
		if errors.As(err, &pe) {
			return nil, err
		}
		return nil, poblysh.Unavailable("webhook store", err)
	}
	metrics.WebhookDeliveries.WithLabelValues(provider, out.Status).Inc()
	if out.Status == WebhookAccepted {
		now := time.Now()
		for _, s := range d.Signals {
			metrics.IngestLag.WithLabelValues(provider).Observe(now.Sub(s.OccurredAt).Seconds())
		}
	}
	e.log().WithFields(logrus.Fields{"provider": provider, "delivery_id": d.DeliveryID, "event": d.Event,
		"status": out.Status, "signals": out.Signals, "connections": out.Connections}).Info("webhook received")
	return out, nil
}

// wanted keeps the Signals a connection's config wants.
func wanted(f connectors.SignalFilter, c *db.Connection, in []connectors.Signal, sigs []db.NewSignal) []db.NewSignal {
	if f == nil {
		return sigs
	}
	view := activities.ConnectorConnection(c)
	var out []db.NewSignal
	for i, s := range in {
		if f.Wants(view, s) {
			out = append(out, sigs[i])
		}
	}
	return out
}

func (e *Engine) nudgeRoute(ctx context.Context, c *db.Connection, r db.Route) error {
	if !c.Active() {
		return nil
	}
	if r.Stream != "" {
		return e.NudgeStream(ctx, c, r.Stream, poblysh.TriggerWebhook)
	}
	streams, err := e.Streams(c)
	if err != nil {
		return err
	}
	for _, s := range streams {
		if err := e.NudgeStream(ctx, c, s, poblysh.TriggerWebhook); err != nil {
			return err
		}
	}
	return nil
}
