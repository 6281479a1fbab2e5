package webhook

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/jira"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
	"github.com/poblysh/poblysh/sandbox"
	jirasandbox "github.com/poblysh/poblysh/sandbox/jira"
	"github.com/poblysh/poblysh/vault"
)

// jiraSites is the intake over a fresh schema with the Jira connector
// and its sandbox, whose deliveries arrive on got.
type jiraSites struct {
	t      *testing.T
	db     *db.DB
	in     *Intake
	p      *connectors.Provider
	reg    *connectors.Registry
	sb     *jirasandbox.Server
	kr     *vault.KeyRing
	nudges *nudges
	got    chan *connectors.WebhookRequest
}

func newJiraSites(t *testing.T) *jiraSites {
	t.Helper()
	s := dbtest.NewSchema(t)
	sb := jirasandbox.New(jirasandbox.Options{Options: sandbox.Options{Seed: true}})
	srv := httptest.NewServer(sb)
	t.Cleanup(srv.Close)
	got := make(chan *connectors.WebhookRequest, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- &connectors.WebhookRequest{Header: r.Header.Clone(), Body: body, Now: time.Now()}
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(recv.Close)
	sb.Deliverer.SetTarget(recv.URL)
	env := sb.Env(srv.URL)
	reg, err := connectors.Build([]*connectors.Spec{jira.Spec}, func(k string) string { return env[k] }, "https://poblysh.example", true)
	require.NoError(t, err)
	p, _ := reg.Get(jira.Provider)
	key, err := vault.ParseKey(vault.GenerateKey())
	require.NoError(t, err)
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	e := &jiraSites{t: t, db: s.DB, p: p, reg: reg, sb: sb, kr: vault.NewKeyRing(key), nudges: &nudges{p: p}, got: got}
	e.in = &Intake{DB: s.DB, KeyRing: e.kr, Nudger: e.nudges, Log: log}
	return e
}

// connect stores a tenant's connection to a site known by url, and the
// webhook channel its watch registers at the sandbox for project: the
// connection and the channel's route key.
func (e *jiraSites) connect(tenant, cloudID, url, project string) (*db.Connection, connectors.Channel) {
	t := e.t
	ctx := context.Background()
	host := strings.TrimPrefix(url, "https://")
	acct := connectors.Account{ID: cloudID, Name: host, Metadata: map[string]string{"url": url, "user_id": "5b10a2844c20165700ede21g"}}
	cfg, err := e.p.Connector.(connectors.ConfigValidator).ValidateConfig([]byte(`{"projects": ["` + project + `"]}`))
	require.NoError(t, err)
	ts, err := e.sb.IssueToken("")
	require.NoError(t, err)
	chans, err := e.p.Connector.(connectors.Watcher).Watch(ctx, connectors.WatchRequest{
		Connection: connectors.Connection{TenantID: tenant, Account: acct, Config: cfg},
		HTTP:       e.reg.HTTPClient(e.p, cloudID, ts.AccessToken), CallbackURL: e.p.Config.WebhookURL(jira.Provider), Now: time.Now()})
	require.NoError(t, err)
	require.Len(t, chans, 1)
	var tenantID string
	require.NoError(t, e.db.WithSystem(ctx, func(tx *db.Tx) error {
		tn, _, _, err := tx.CreateTenant(ctx, tenant)
		tenantID = tn.ID
		return err
	}))
	var c *db.Connection
	raw, err := json.Marshal(acct)
	require.NoError(t, err)
	require.NoError(t, e.db.WithTenant(ctx, tenantID, func(tx *db.Tx) (err error) {
		c, _, err = tx.UpsertConnection(ctx, db.ConnectionUpsert{Provider: jira.Provider, ExternalAccountID: cloudID, DisplayName: host,
			Account: raw, Config: cfg})
		if err != nil {
			return err
		}
		exp := chans[0].Expires
		if err := tx.InsertWatchChannel(ctx, e.kr, db.WatchChannel{TenantID: tenantID, ConnectionID: c.ID, Provider: jira.Provider,
			ChannelID: chans[0].ID, Target: chans[0].Target, Stream: chans[0].Stream, RouteKey: chans[0].RouteKey, ExpiresAt: &exp}); err != nil {
			return err
		}
		return lifecycle.RebuildRoutes(ctx, tx, e.p, c)
	}))
	return c, chans[0]
}

// deliver creates an issue on a site's project and takes its delivery
// in.
func (e *jiraSites) deliver(cloudID, project string) *Outcome {
	e.t.Helper()
	_, err := e.sb.CreateIssue(context.Background(), cloudID, jirasandbox.IssueInput{Project: project, Summary: "Press inquiry"}, sandbox.DeliveryOptions{})
	require.NoError(e.t, err)
	var req *connectors.WebhookRequest
	select {
	case req = <-e.got:
	case <-time.After(10 * time.Second):
		e.t.Fatal("no delivery arrived")
	}
	out, err := e.in.Receive(context.Background(), e.p, req)
	require.NoError(e.t, err)
	return out
}

func (e *jiraSites) signals(connID string) int {
	var n int
	require.NoError(e.t, e.db.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, connID)
	}))
	return n
}

// TestJiraTransferredURLRoutesToOneSite: Atlassian gives a site's former
// URL to another site (support's "Transferring cloud site URL to another
// site": 30 days after the first is deleted, or on request). Until the
// first site's connection reads its new URL (its next pass), its webhook
// channel is keyed by the host the other site has now, and webhook ids
// are numbered per site: the other site's delivery, which names its site
// only by that host, matched the first site's channel too, and was
// stored as Signals of that connection, another tenant's. A delivery
// whose route keys reach connections of two sites (two cloud ids) is now
// stored for neither: each is nudged to read its own site through the
// API, and the first one's pass, reading its new URL, rekeys its channel.
// Once it has, the other site's deliveries reach only its own connection.
func TestJiraTransferredURLRoutesToOneSite(t *testing.T) {
	e := newJiraSites(t)
	a, chA := e.connect("first", jirasandbox.SiteID, jirasandbox.SiteURL, "LPR")
	require.NoError(t, e.sb.RenameSite(jirasandbox.SiteID, "https://acme-launch.atlassian.net"))
	require.NoError(t, e.sb.RenameSite(jirasandbox.SecondSite, jirasandbox.SiteURL))
	b, chB := e.connect("second", jirasandbox.SecondSite, jirasandbox.SiteURL, "OPS")
	require.Equal(t, chA.RouteKey, chB.RouteKey, "webhook ids are numbered per site: the same key on the same host")

	out := e.deliver(jirasandbox.SecondSite, "OPS")
	require.Zero(t, e.signals(a.ID), "a delivery of the second site is never stored as the first site's (another tenant's)")
	require.Zero(t, e.signals(b.ID), "nor, while a connection of another site shares its key, as the second's")
	require.Zero(t, out.Signals)
	require.Equal(t, Accepted, out.Status)
	require.ElementsMatch(t, []string{a.ID + ` "issues:LPR" webhook`, b.ID + ` "issues:OPS" webhook`}, e.nudges.calls,
		"each connection reads its own site instead")

	// So while the second site's connection is paused: the first one's
	// pass is the only read, and the delivery is still not the first's.
	ctx := context.Background()
	pause := func(c *db.Connection, paused bool) {
		require.NoError(t, e.db.WithTenant(ctx, c.TenantID, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE connections SET paused = $1 WHERE id = $2`, paused, c.ID)
			return err
		}))
	}
	pause(b, true)
	e.nudges.calls = nil
	out = e.deliver(jirasandbox.SecondSite, "OPS")
	require.Zero(t, e.signals(a.ID), "a paused connection's account counts")
	require.Zero(t, out.Signals)
	require.Equal(t, []string{a.ID + ` "issues:LPR" webhook`}, e.nudges.calls)
	pause(b, false)

	// The first connection's pass reads its site's new URL; the watch pass
	// rekeys its channel (ChannelRouteKey) and rebuilds its routes.
	require.NoError(t, e.db.WithTenant(ctx, a.TenantID, func(tx *db.Tx) error {
		moved := lifecycle.View(a)
		moved.Account.Name, moved.Account.Metadata["url"] = "acme-launch.atlassian.net", "https://acme-launch.atlassian.net"
		key, err := e.p.Connector.(connectors.ChannelRekeyer).ChannelRouteKey(moved, chA)
		if err != nil {
			return err
		}
		require.NotEqual(t, chA.RouteKey, key)
		if _, err := tx.ExecContext(ctx, `UPDATE watch_channels SET route_key = $1 WHERE connection_id = $2`, key, a.ID); err != nil {
			return err
		}
		return lifecycle.RebuildRoutes(ctx, tx, e.p, a)
	}))
	e.nudges.calls = nil
	out = e.deliver(jirasandbox.SecondSite, "OPS")
	require.Equal(t, Accepted, out.Status)
	require.Equal(t, 1, out.Connections)
	require.Equal(t, 1, e.signals(b.ID), "the second site's delivery is its own connection's")
	require.Zero(t, e.signals(a.ID))
	require.Empty(t, e.nudges.calls)
}
