package slack

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/poblysh/poblysh/connectors"
)

// tier is a Slack rate-limit tier: Slack limits each Web API method per
// app and workspace, methods of one tier alike
// (https://docs.slack.dev/apis/web-api/rate-limits).
type tier struct {
	name  string
	every time.Duration // one call per every...
	burst int           // ...after a burst of this many
}

var (
	tier2 = tier{"tier2", 3 * time.Second, 3}         // 20+ per minute
	tier3 = tier{"tier3", 1200 * time.Millisecond, 5} // 50+ per minute
	tier4 = tier{"tier4", 600 * time.Millisecond, 10} // 100+ per minute
	slow  = tier{"non-marketplace", time.Minute, 1}   // conversations.history/replies of non-Marketplace apps
	_     = []tier{tier2, tier3, tier4, slow}         // every tier is used
	tiers = map[string]tier{
		"auth.teams.list":       tier2,
		"conversations.history": tier3,
		"conversations.replies": tier3,
		"conversations.info":    tier3,
		"conversations.list":    tier3,
		"users.conversations":   tier3,
		"users.info":            tier4,
		"auth.test":             tier4,
	}
)

// UsePacer implements connectors.PacerUser: tier budgets (and the
// non-Marketplace limit) are then shared by every process of the service.
func (c *Connector) UsePacer(p connectors.Pacer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.pacer = p
}

func (c *Connector) currentPacer() connectors.Pacer {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pacer
}

// localPacer paces in this process only: the connector's pacer until the
// service hands it a shared one.
type localPacer struct {
	mu sync.Mutex
	m  map[string]*rate.Limiter
}

func newLocalPacer() *localPacer { return &localPacer{m: map[string]*rate.Limiter{}} }

// Reserve implements connectors.Pacer: a turn further out than within is
// not booked.
func (p *localPacer) Reserve(_ context.Context, key string, every time.Duration, burst int, within time.Duration) (time.Duration, bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock() // held until a turn too far out is given back, so no booking comes after it
	l, ok := p.m[key]
	if !ok {
		l = rate.NewLimiter(rate.Every(every), max(burst, 1))
		p.m[key] = l
	}
	now := time.Now()
	r := l.ReserveN(now, 1)
	d := r.DelayFrom(now)
	if within >= 0 && d > within {
		r.CancelAt(now)
		return d, false, nil
	}
	return d, true, nil
}

// budgetKey names one workspace's (or org's) budget of a tier.
func budgetKey(team string, t tier) string { return "slack:" + team + ":" + t.name }

// waitTurn books a call of team's budget t and waits for it. A turn later
// than ctx allows is not booked: it fails at once with a rate limit
// carrying the wait, so the engine retries the page when the budget is
// back.
func (c *Connector) waitTurn(ctx context.Context, team string, t tier) error {
	if team == "" {
		return nil
	}
	if err := connectors.TakeTurn(ctx, c.currentPacer(), budgetKey(team, t), t.every, t.burst,
		"slack "+t.name+" budget of the workspace"); err != nil {
		return fmt.Errorf("slack: %w", err)
	}
	return nil
}

// paced returns hc with every Web API call paced by its method's tier in
// team's budget.
func (c *Connector) paced(hc *http.Client, team string) *http.Client {
	if hc == nil {
		hc = http.DefaultClient
	}
	out := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = &pacedTransport{c: c, team: team, base: base}
	return &out
}

type pacedTransport struct {
	c    *Connector
	team string
	base http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t *pacedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if tr, ok := tiers[path.Base(req.URL.Path)]; ok {
		if err := t.c.waitTurn(req.Context(), t.team, tr); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
	}
	return t.base.RoundTrip(req)
}
