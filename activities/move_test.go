package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// movingConnector reads one stream per ref of its config ({"refs": [...]},
// stream "read:<ref>"). A ref in moved is elsewhere for good: its page
// says where (Page.Moved). The token reads the refs in readable.
type movingConnector struct {
	spec     *connectors.Spec
	moved    map[string]string
	readable map[string]bool
}

type movingConfig struct {
	Refs []string `json:"refs"`
}

func (c *movingConnector) Spec() *connectors.Spec { return c.spec }

func (c *movingConnector) refs(conn connectors.Connection) []string {
	var cfg movingConfig
	_ = json.Unmarshal(conn.Config, &cfg)
	return cfg.Refs
}

func (c *movingConnector) Streams(conn connectors.Connection) ([]string, error) {
	var out []string
	for _, r := range c.refs(conn) {
		out = append(out, "read:"+r)
	}
	return out, nil
}

func (c *movingConnector) FetchPage(_ context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	ref := strings.TrimPrefix(req.Stream, "read:")
	if to, ok := c.moved[ref]; ok {
		return &connectors.Page{Moved: to, Next: req.Cursor}, nil
	}
	return &connectors.Page{Next: json.RawMessage(`"read"`), Done: true, Items: 1, Signals: []connectors.Signal{{
		Kind: "item.created", OccurredAt: time.Unix(1_700_000_000, 0), DedupeKey: "item:" + ref,
		Payload: connectors.Payload{Title: "item", URL: "https://example.test/" + ref},
	}}}, nil
}

func (c *movingConnector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	return c.refs(conn), nil
}

func (c *movingConnector) ProveAccess(_ context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	out := &connectors.AccessReport{}
	for _, r := range c.refs(req.Connection) {
		switch {
		case !req.Requested(r):
		case c.readable[r]:
			out.Granted = append(out.Granted, connectors.Resource{Ref: r, ID: "id-" + r, Name: "#" + r, RouteKeys: []string{"key:" + r}})
		default:
			out.Denied = append(out.Denied, connectors.Denial{Ref: r, Reason: "not readable", Err: connectors.ErrNotFound})
		}
	}
	return out, nil
}

func (c *movingConnector) StreamResource(stream string) (string, bool) {
	return strings.CutPrefix(stream, "read:")
}

func (c *movingConnector) RouteKeys(conn connectors.Connection) ([]string, error) {
	return []string{"acct:" + conn.Account.ID}, nil
}

func (c *movingConnector) MoveResource(conn connectors.Connection, from, to string) (*connectors.ResourceMove, error) {
	refs := slices.Clone(c.refs(conn))
	refs[slices.Index(refs, from)] = to
	raw, err := json.Marshal(movingConfig{Refs: refs})
	if err != nil {
		return nil, err
	}
	return &connectors.ResourceMove{Config: raw, Streams: map[string]string{"read:" + from: "read:" + to}}, nil
}

// TestSyncPageFollowsAMovedResource: a stream's page says its resource is
// elsewhere for good. Once the connection's own token proves it can read
// the new ref, the connection follows it in one transaction: the config
// names the new ref, the resource and its route are replaced, the cursor
// moves to the new stream, and the connection is marked for activation,
// as a PATCH of its config is. A new ref the token cannot read leaves the
// old one lost (route dropped, connection degraded), and a config that no
// longer names the stream's resource changes nothing.
func TestSyncPageFollowsAMovedResource(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "mover"}
	mc := &movingConnector{spec: spec, moved: map[string]string{}, readable: map[string]bool{"a": true, "b": true}}
	p := &connectors.Provider{Spec: spec, Connector: mc}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(p), KeyRing: kr}
	tenant, connID := seedWithToken(t, schema, kr, "mover", "mover")
	in := func(fn func(tx *db.Tx) error) { require.NoError(t, schema.DB.WithTenant(ctx, tenant, fn)) }
	in(func(tx *db.Tx) error {
		cfg := json.RawMessage(`{"refs":["a","b"]}`)
		c, err := tx.UpdateConnection(ctx, connID, db.ConnectionPatch{Config: &cfg})
		if err != nil {
			return err
		}
		report, _ := mc.ProveAccess(ctx, connectors.AccessRequest{Connection: lifecycle.View(c)})
		if err := tx.ReplaceResources(ctx, connID, lifecycle.ResourceRows(report.Granted)); err != nil {
			return err
		}
		if err := tx.AdvanceCursor(ctx, connID, "read:a", json.RawMessage(`{"hw":"a-10"}`), 0); err != nil {
			return err
		}
		return lifecycle.RebuildRoutes(ctx, tx, p, c)
	})
	type state struct {
		Config     string
		Resources  []string
		Routes     []string
		Cursors    map[string]string
		Health     string
		Activation string
	}
	read := func() state {
		var st state
		in(func(tx *db.Tx) error {
			c, err := tx.FindConnection(ctx, connID)
			if err != nil {
				return err
			}
			st.Config, st.Health, st.Activation = string(c.Config), string(c.Health), string(c.ActivationPending)
			rs, err := tx.ListResources(ctx, connID)
			if err != nil {
				return err
			}
			for _, r := range rs {
				st.Resources = append(st.Resources, r.Ref+":"+r.ResourceID+":"+r.Access)
			}
			if err := tx.SelectContext(ctx, &st.Routes, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY route_key`, connID); err != nil {
				return err
			}
			var cursors []struct {
				Stream string `db:"stream"`
				Cursor string `db:"cursor"`
			}
			if err := tx.SelectContext(ctx, &cursors, `SELECT stream, coalesce(cursor::text, '') AS cursor FROM sync_cursors WHERE connection_id = $1`, connID); err != nil {
				return err
			}
			st.Cursors = map[string]string{}
			for _, c := range cursors {
				st.Cursors[c.Stream] = c.Cursor
			}
			return nil
		})
		return st
	}
	page := func(stream string) (SyncPageResult, error) {
		ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "mover", Stream: stream}
		job := uuid.NewString()
		_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobIncremental, Trigger: poblysh.TriggerWebhook,
			WorkflowID: "q:sync/" + connID + "/" + stream})
		require.NoError(t, err)
		return acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	}
	before := read()
	require.Equal(t, []string{"acct:acct", "key:a", "key:b"}, before.Routes)

	// "a" is at "c" now, and the token reads it: the connection follows.
	mc.moved["a"], mc.readable["c"] = "c", true
	res, err := page("read:a")
	require.NoError(t, err)
	require.Equal(t, SyncPageResult{Done: true}, res, "nothing stored: the pass ends")
	after := read()
	require.JSONEq(t, `{"refs":["c","b"]}`, after.Config)
	require.Equal(t, []string{"b:id-b:granted", "c:id-c:granted"}, after.Resources)
	require.Equal(t, []string{"acct:acct", "key:b", "key:c"}, after.Routes)
	require.Equal(t, map[string]string{"read:c": `{"hw": "a-10"}`}, after.Cursors, "the cursor moved with the resource")
	require.Equal(t, string(db.ActivateSync), after.Activation, "applied as a PATCH of the config is")
	require.Equal(t, "healthy", after.Health)

	// A queued pass of the old stream: the config no longer names it, so
	// its pass ends as a removed stream's does (the workflow cancels the
	// job), and nothing changes.
	_, err = page("read:a")
	var inactive *temporal.ApplicationError
	require.True(t, errors.As(err, &inactive), "%v", err)
	require.Equal(t, ErrTypeConnectionInactive, inactive.Type())
	require.True(t, inactive.NonRetryable())
	require.Equal(t, after, read())

	// "b" moved where the token cannot read: it is lost, as a sync that
	// cannot read it finds it.
	mc.moved["b"] = "d"
	_, err = page("read:b")
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "%v", err)
	require.Equal(t, ErrTypeNotFound, appErr.Type())
	require.True(t, appErr.NonRetryable())
	lost := read()
	require.JSONEq(t, `{"refs":["c","b"]}`, lost.Config, "the config is not rewritten")
	require.Equal(t, []string{"b:id-b:lost", "c:id-c:granted"}, lost.Resources)
	require.Equal(t, []string{"acct:acct", "key:c"}, lost.Routes)
	require.Equal(t, "degraded", lost.Health)
	require.Equal(t, fmt.Sprint(after.Cursors), fmt.Sprint(lost.Cursors))
}
