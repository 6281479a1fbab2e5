package activities

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// renamingConnector serves pagedConnector's pages and, on a page whose
// connection names another host than the provider's ("host" metadata: a
// Jira site whose URL an admin renamed), names the account anew
// (Page.Account); seen are the hosts the pages were fetched with.
type renamingConnector struct {
	*pagedConnector
	host    string
	seen    []string
	onFetch func() // runs while the provider answers (a reconnect meanwhile)
}

func (c *renamingConnector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	c.seen = append(c.seen, req.Connection.Account.Metadata["host"])
	if c.onFetch != nil {
		c.onFetch()
	}
	page, err := c.pagedConnector.FetchPage(ctx, req)
	if err == nil && req.Connection.Account.Metadata["host"] != c.host {
		page.Account = &connectors.Account{ID: req.Connection.Account.ID, Name: c.host + ".example",
			Metadata: map[string]string{"host": c.host}}
	}
	return page, err
}

// watchStarts records the watch passes activities start.
type watchStarts struct {
	noWorkflows
	refs []poblysh.ConnectionRef
}

func (w *watchStarts) NudgeConnection(context.Context, poblysh.ConnectionRef, poblysh.Trigger) (int, error) {
	return 0, nil
}
func (w *watchStarts) StartRefresh(context.Context, poblysh.ConnectionRef) error { return nil }
func (w *watchStarts) StartWatchReconcile(_ context.Context, ref poblysh.ConnectionRef, _ poblysh.Trigger) error {
	w.refs = append(w.refs, ref)
	return nil
}

// An account a page names anew (a renamed Jira site) is stored before the
// page, the pages after it are fetched with it, and a watch pass starts
// (channels' route keys may name it). An account stored since the
// activity read the connection (a re-authorization) is kept.
func TestRenamedAccountIsStored(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "paged"}
	conn := &renamingConnector{pagedConnector: &pagedConnector{spec: spec, pages: 3, failAt: map[int]error{}}, host: "acme-launch"}
	orch := &watchStarts{}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: conn}),
		KeyRing: kr, TenantConcurrency: 4, PagesPerActivity: 2, Orchestrator: orch}
	tenant, connID := seedWithToken(t, schema, kr, "rename", "paged")
	account := func() (name string, acct connectors.Account) {
		var c *db.Connection
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			c, err = tx.FindConnection(ctx, connID)
			return err
		}))
		require.NoError(t, json.Unmarshal(c.Account, &acct))
		return c.DisplayName, acct
	}
	setAccount := func(host string) {
		require.NoError(t, schema.DB.WithSystem(ctx, func(tx *db.Tx) error {
			_, err := tx.ExecContext(ctx, `UPDATE connections SET display_name = $2 || '.example',
				account = jsonb_build_object('id', 'acct', 'name', $2 || '.example', 'metadata', jsonb_build_object('host', $2::text))
				WHERE id = $1`, connID, host)
			return err
		}))
	}
	setAccount("acme-pr")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged", Stream: "items"}
	job := uuid.NewString()
	_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerManual,
		WorkflowID: "q:sync/" + connID + "/items", ResetCursor: true})
	require.NoError(t, err)

	res, err := acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	require.NoError(t, err)
	require.Equal(t, 2, res.Pages)
	require.Equal(t, []string{"acme-pr", "acme-launch"}, conn.seen, "the page after the rename is fetched with the stored account")
	name, acct := account()
	require.Equal(t, "acme-launch.example", name)
	require.Equal(t, connectors.Account{ID: "acct", Name: "acme-launch.example", Metadata: map[string]string{"host": "acme-launch"}}, acct)
	require.Equal(t, []poblysh.ConnectionRef{{TenantID: tenant, ConnectionID: connID, Provider: "paged"}}, orch.refs, "a watch pass re-keys the channels")

	// Re-authorized while a page is read (the account stored anew): the
	// page's older reading is not stored over it.
	setAccount("acme-old")
	conn.host = "acme-stale"
	acts.PagesPerActivity = 1
	conn.onFetch = func() { setAccount("acme-fresh") }
	_, err = acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	require.NoError(t, err)
	name, acct = account()
	require.Equal(t, "acme-fresh.example", name)
	require.Equal(t, "acme-fresh", acct.Metadata["host"])
	require.Len(t, orch.refs, 1, "nothing stored, no watch pass")
}
