package lifecycle_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/github"
	"github.com/poblysh/poblysh/connectors/gmail"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// proveAs proves what grant answers for a config.
type proveAs func(cfg json.RawMessage) []connectors.Resource

func (f proveAs) Prove(_ context.Context, _ poblysh.ConnectionRef, cfg json.RawMessage, _ []string) (*connectors.AccessReport, error) {
	return &connectors.AccessReport{Granted: f(cfg)}, nil
}

func (proveAs) Authorize(context.Context, poblysh.ConnectionRef) (*http.Client, *db.Tokens, error) {
	return nil, nil, nil
}

// routing is a connection of p whose PATCHes prove as grant does.
type routing struct {
	svc    *lifecycle.Service
	db     *db.DB
	p      *connectors.Provider
	tenant string
	id     string
}

func newRouting(t *testing.T, c connectors.Connector, account string, grant proveAs) *routing {
	t.Helper()
	s := dbtest.NewSchema(t)
	p := &connectors.Provider{Spec: c.Spec(), Connector: c}
	log := logrus.New()
	log.SetLevel(logrus.ErrorLevel)
	r := &routing{db: s.DB, p: p, svc: &lifecycle.Service{DB: s.DB, Registry: connectors.NewRegistry(p), Workflows: noWorkflows{},
		Access: grant, Log: log, KeyRing: dbtest.KeyRing(t)}}
	r.tenant, r.id = dbtest.Seed(t, s.DB, "acme", c.Spec().Name, account)
	return r
}

func (r *routing) patch(t *testing.T, cfg string) {
	t.Helper()
	_, err := r.svc.Update(context.Background(), r.tenant, r.id, lifecycle.Update{Config: json.RawMessage(cfg)})
	require.NoError(t, err)
}

// watched stores the channels a watch pass made, routed as it routes them.
func (r *routing) watched(t *testing.T, channels ...db.WatchChannel) {
	t.Helper()
	ctx := context.Background()
	require.NoError(t, r.db.WithTenant(ctx, r.tenant, func(tx *db.Tx) error {
		c, err := tx.LockConnection(ctx, r.id)
		if err != nil {
			return err
		}
		for _, ch := range channels {
			ch.ConnectionID, ch.Provider = r.id, r.p.Spec.Name
			if err := tx.InsertWatchChannel(ctx, r.svc.KeyRing, ch); err != nil {
				return err
			}
		}
		return lifecycle.RebuildRoutes(ctx, tx, r.p, c)
	}))
}

func (r *routing) routes(t *testing.T) []string {
	t.Helper()
	var keys []string
	require.NoError(t, r.db.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &keys, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, r.id)
	}))
	return keys
}

// A PATCH that stops following a repository stops routing its hook: the
// deliveries it signs are no longer the connection's Signals from the
// PATCH on, as a page of the repository read across the PATCH stores
// nothing. (Only a resource found lost dropped its channel's route; a
// target the config no longer names has no resource row, so its hook
// stayed routed until a watch pass deleted it, which may be never while
// the delete fails, and minutes while Temporal is away.) The watch pass,
// the activation and a proof rebuild the routes by the same rule.
func TestPatchRemovingATargetUnroutesItsChannel(t *testing.T) {
	t.Parallel()
	gh, err := github.New(connectors.Config{})
	require.NoError(t, err)
	r := newRouting(t, gh, "583231", func(cfg json.RawMessage) []connectors.Resource {
		var c struct{ Repos []string }
		_ = json.Unmarshal(cfg, &c)
		var out []connectors.Resource
		for _, repo := range c.Repos {
			out = append(out, connectors.Resource{Ref: repo, ID: repo, RouteKeys: []string{"repo:" + repo}})
		}
		return out
	})
	r.patch(t, `{"repos":["octo/x","octo/y"]}`)
	r.watched(t, db.WatchChannel{ChannelID: "1", Target: "octo/x", RouteKey: "hook:1", Secret: "s1"},
		db.WatchChannel{ChannelID: "2", Target: "octo/y", RouteKey: "hook:2", Secret: "s2"})
	require.Equal(t, []string{"hook:1", "hook:2", "repo:octo/x", "repo:octo/y", "user:583231"}, r.routes(t))

	r.patch(t, `{"repos":["octo/x"]}`)
	require.Equal(t, []string{"hook:1", "repo:octo/x", "user:583231"}, r.routes(t),
		"octo/y's hook routes nothing once the config no longer names it")

	// Its hook, still active until a watch pass deletes it, is not routed
	// again by a later rebuild (the watch pass stores a new channel, the
	// activation sweep, a proof).
	r.watched(t)
	require.Equal(t, []string{"hook:1", "repo:octo/x", "user:583231"}, r.routes(t))

	// Named again, it routes again.
	r.patch(t, `{"repos":["octo/x","octo/y"]}`)
	require.Equal(t, []string{"hook:1", "hook:2", "repo:octo/x", "repo:octo/y", "user:583231"}, r.routes(t))
}

// A channel that watches the account rather than a configured resource
// (Gmail's one mailbox watch) keeps its route through a PATCH of what
// the connection reads.
func TestPatchKeepsAnAccountWideChannelRouted(t *testing.T) {
	t.Parallel()
	gm, err := gmail.New(connectors.Config{})
	require.NoError(t, err)
	r := newRouting(t, gm, "a@example.com", func(json.RawMessage) []connectors.Resource {
		return []connectors.Resource{{Ref: gmail.MailboxRef, ID: "a@example.com", RouteKeys: []string{"mailbox:a@example.com"}}}
	})
	r.patch(t, `{"labels":["INBOX"]}`)
	r.watched(t, db.WatchChannel{ChannelID: "w1", Target: gmail.MailboxRef, RouteKey: "watch:a@example.com"})
	require.Equal(t, []string{"mailbox:a@example.com", "watch:a@example.com"}, r.routes(t))

	r.patch(t, `{"labels":["SENT"]}`)
	require.Equal(t, []string{"mailbox:a@example.com", "watch:a@example.com"}, r.routes(t))
}
