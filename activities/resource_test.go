package activities

import (
	"context"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// repoConnector is a pagedConnector whose stream reads one resource,
// "octo/repo": each page shows it as shown, and ProveAccess grants
// whatever the ref's name answers now (byName).
type repoConnector struct {
	*pagedConnector
	shown  connectors.Resource
	byName connectors.Resource
	given  []*connectors.Resource // the Resource of each PageRequest
}

func (c *repoConnector) StreamResource(string) (string, bool) { return "octo/repo", true }

func (c *repoConnector) ResourceRefs(connectors.Connection) ([]string, error) {
	return []string{"octo/repo"}, nil
}

func (c *repoConnector) ProveAccess(context.Context, connectors.AccessRequest) (*connectors.AccessReport, error) {
	return &connectors.AccessReport{Granted: []connectors.Resource{c.byName}}, nil
}

func (c *repoConnector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	c.given = append(c.given, req.Resource)
	page, err := c.pagedConnector.FetchPage(ctx, req)
	if err == nil {
		shown := c.shown
		page.Resource = &shown
	}
	return page, err
}

// TestSyncFollowsTheProvedResourceByID: a stream is handed the resource
// the connection proved; a page that shows it under a new name records
// the rename (same id); a page that shows another id under the ref is
// not taken for a rename (a new repository that took a renamed one's old
// name is another repository); a lost resource the sync reads again is
// granted as read (its id), not as the ref's name answers now.
func TestSyncFollowsTheProvedResourceByID(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "paged"}
	proved := connectors.Resource{Ref: "octo/repo", ID: "11", Name: "octo/repo", RouteKeys: []string{"repo:11"}}
	other := connectors.Resource{Ref: "octo/repo", ID: "22", Name: "octo/repo", RouteKeys: []string{"repo:22"}}
	conn := &repoConnector{pagedConnector: &pagedConnector{spec: spec, pages: 1, failAt: map[int]error{}}, byName: other}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: conn}),
		KeyRing: kr, TenantConcurrency: 4, PagesPerActivity: 3}
	tenant, connID := seedWithToken(t, schema, kr, "resource", "paged")
	p, _ := acts.Registry.Get("paged")
	_, err := acts.recordProof(ctx, poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged"},
		p, &connectors.AccessReport{Granted: []connectors.Resource{proved}})
	require.NoError(t, err)
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged", Stream: "items"}
	sync := func(shown connectors.Resource) *db.Resource {
		t.Helper()
		conn.shown, conn.given = shown, nil
		job := uuid.NewString()
		_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobBackfill,
			Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/" + connID + "/items", ResetCursor: true})
		require.NoError(t, err)
		_, err = acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
		require.NoError(t, err)
		var res *db.Resource
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			res, err = tx.FindResource(ctx, connID, "octo/repo")
			return err
		}))
		return res
	}

	renamed := proved
	renamed.Name = "octo/repo-legacy"
	res := sync(renamed)
	require.Len(t, conn.given, 1)
	require.NotNil(t, conn.given[0], "the page is handed the proved resource")
	require.Equal(t, "11", conn.given[0].ID)
	require.Equal(t, []string{"11", "octo/repo-legacy", db.AccessGranted}, []string{res.ResourceID, res.Name, res.Access}, "a rename keeps the id")

	res = sync(other)
	require.Equal(t, []string{"11", "octo/repo-legacy", db.AccessGranted}, []string{res.ResourceID, res.Name, res.Access},
		"another id under the ref is not a rename")
	require.Equal(t, []string{"repo:11"}, []string(res.RouteKeys))

	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) error {
		_, err := tx.LoseResource(ctx, connID, "octo/repo", "not found")
		return err
	}))
	res = sync(renamed)
	require.Equal(t, "11", conn.given[0].ID, "a lost resource is still followed by its id")
	require.Equal(t, []string{"11", "octo/repo-legacy", db.AccessGranted}, []string{res.ResourceID, res.Name, res.Access},
		"read again: granted as read, not as the name answers now")
}
