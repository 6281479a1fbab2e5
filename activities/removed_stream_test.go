package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
	"github.com/poblysh/poblysh/lifecycle"
)

// configRepoConnector reads the repositories its config names
// ({"repos":[...]}), one stream "pulls:<repo>" each. ProveAccess grants
// the requested repositories of the config it is handed; each page shows
// its stream's repository, whatever the config says now (as GitHub's pages
// do, from the cursor); its items are the stream's own. onFetch runs once, while the provider answers the
// next fetch (a PATCH from another request).
type configRepoConnector struct {
	*pagedConnector
	ids     map[string]string
	onFetch func()
}

func (c *configRepoConnector) repos(conn connectors.Connection) []string {
	var cfg struct{ Repos []string }
	_ = json.Unmarshal(conn.Config, &cfg)
	return cfg.Repos
}

func (c *configRepoConnector) Streams(conn connectors.Connection) ([]string, error) {
	var out []string
	for _, r := range c.repos(conn) {
		out = append(out, "pulls:"+r)
	}
	return out, nil
}

func (c *configRepoConnector) StreamResource(s string) (string, bool) {
	return strings.CutPrefix(s, "pulls:")
}

func (c *configRepoConnector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	return c.repos(conn), nil
}

func (c *configRepoConnector) resource(ref string) connectors.Resource {
	return connectors.Resource{Ref: ref, ID: c.ids[ref], Name: ref, RouteKeys: []string{"repo:" + c.ids[ref]}}
}

func (c *configRepoConnector) ProveAccess(_ context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	out := &connectors.AccessReport{}
	for _, r := range c.repos(req.Connection) {
		if req.Requested(r) {
			out.Granted = append(out.Granted, c.resource(r))
		}
	}
	return out, nil
}

func (c *configRepoConnector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	if f := c.onFetch; f != nil {
		c.onFetch = nil
		f()
	}
	page, err := c.pagedConnector.FetchPage(ctx, req)
	if err == nil {
		for i := range page.Signals {
			page.Signals[i].DedupeKey = req.Stream + "/" + page.Signals[i].DedupeKey
		}
		ref, _ := c.StreamResource(req.Stream)
		r := c.resource(ref)
		page.Resource = &r
	}
	return page, err
}

// removedRepo is a connection configured with octo/a and octo/x, whose
// stream pulls:octo/x has stored its first page in a pass (job) still
// running; patch then removes octo/x from the config.
type removedRepo struct {
	t      *testing.T
	schema *dbtest.Schema
	acts   *Activities
	conn   *configRepoConnector
	svc    *lifecycle.Service
	tenant string
	connID string
	ref    poblysh.ConnectionRef // pulls:octo/x
	job    string
}

func newRemovedRepo(t *testing.T, name string) *removedRepo {
	t.Helper()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "paged"}
	conn := &configRepoConnector{pagedConnector: &pagedConnector{spec: spec, pages: 5, failAt: map[int]error{}},
		ids: map[string]string{"octo/a": "11", "octo/x": "22"}}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: conn}),
		KeyRing: kr, TenantConcurrency: 4, PagesPerActivity: 1}
	tenant, connID := seedWithToken(t, schema, kr, name, "paged")
	r := &removedRepo{t: t, schema: schema, acts: acts, conn: conn, tenant: tenant, connID: connID,
		svc: &lifecycle.Service{DB: schema.DB, Registry: acts.Registry, KeyRing: kr, Workflows: noWorkflows{}, Access: AccessService{A: acts}},
		ref: poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged", Stream: "pulls:octo/x"}}
	r.configure(`{"repos":["octo/a","octo/x"]}`)
	require.Equal(t, []string{"repo:11", "repo:22"}, r.routes())
	r.job = r.begin(r.ref)
	_, err := acts.SyncPage(ctx, SyncPageInput{ConnectionRef: r.ref, JobID: r.job})
	require.NoError(t, err)
	require.Equal(t, 3, r.signals(), "the pass's first page is stored")
	return r
}

func (r *removedRepo) configure(cfg string) {
	r.t.Helper()
	_, err := r.svc.Update(context.Background(), r.tenant, r.connID, lifecycle.Update{Config: json.RawMessage(cfg)})
	require.NoError(r.t, err)
}

// patch removes octo/x from the config.
func (r *removedRepo) patch() {
	r.t.Helper()
	r.configure(`{"repos":["octo/a"]}`)
	require.Equal(r.t, []string{"repo:11"}, r.routes(), "the PATCH dropped octo/x's route")
}

func (r *removedRepo) begin(ref poblysh.ConnectionRef) string {
	r.t.Helper()
	job := uuid.NewString()
	_, err := r.acts.BeginJob(context.Background(), BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobIncremental,
		Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/" + r.connID + "/" + ref.Stream})
	require.NoError(r.t, err)
	return job
}

func (r *removedRepo) routes() []string {
	r.t.Helper()
	var rt []string
	require.NoError(r.t, r.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.SelectContext(context.Background(), &rt, `SELECT route_key FROM webhook_routes WHERE connection_id = $1 ORDER BY 1`, r.connID)
	}))
	return rt
}

// resources lists the connection's resources as "ref=access".
func (r *removedRepo) resources() []string {
	r.t.Helper()
	var out []string
	require.NoError(r.t, r.schema.DB.WithTenant(context.Background(), r.tenant, func(tx *db.Tx) error {
		rs, err := tx.ListResources(context.Background(), r.connID)
		for _, res := range rs {
			out = append(out, res.Ref+"="+res.Access)
		}
		return err
	}))
	return out
}

func (r *removedRepo) signals() int {
	r.t.Helper()
	var n int
	require.NoError(r.t, r.schema.DB.WithSystem(context.Background(), func(tx *db.Tx) error {
		return tx.GetContext(context.Background(), &n, `SELECT count(*) FROM signals WHERE connection_id = $1`, r.connID)
	}))
	return n
}

// A PATCH that removes a repository from the config ends the pass of its
// stream that was under way at its next page: nothing more is fetched or
// stored, the repository is not granted and routed again from what the
// page showed, and the pass ends as a deleted connection's does (not
// retried, cancelled, health untouched). The page routed the removed
// repository again (its resource granted anew), and its Signals kept
// arriving.
func TestPatchRemovingARepositoryEndsItsStreamsPass(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRemovedRepo(t, "removed")
	r.conn.takeFetched()
	r.patch()

	_, err := r.acts.SyncPage(ctx, SyncPageInput{ConnectionRef: r.ref, JobID: r.job})
	require.Equal(t, []string{"repo:11"}, r.routes(), "the removed repository is not routed again")
	require.Equal(t, []string{"octo/a=granted"}, r.resources())
	require.Equal(t, 3, r.signals(), "nothing is stored for it after the PATCH")
	require.Empty(t, r.conn.takeFetched(), "nothing is fetched for it")
	require.Error(t, err, "the pass of a stream the config no longer names stops")
	require.True(t, isType(err, ErrTypeConnectionInactive), "ends as cancelled, not retried: %v", err)
	require.Equal(t, "healthy", healthOf(t, r.schema, r.tenant, r.connID))

	// The repository still configured syncs as before.
	a := r.ref
	a.Stream = "pulls:octo/a"
	_, err = r.acts.SyncPage(ctx, SyncPageInput{ConnectionRef: a, JobID: r.begin(a)})
	require.NoError(t, err)
	require.Equal(t, 6, r.signals())
}

// A page whose fetch is under way when a PATCH removes its repository
// stores none of its Signals (the check and the store hold the
// connection's row, so the PATCH comes first or after the whole page),
// and routes nothing again. It stored its Signals and granted and routed
// the removed repository again.
func TestPageInFlightAtAPatchStoresNothingOfTheRemovedRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRemovedRepo(t, "inflight")
	r.conn.onFetch = r.patch

	_, err := r.acts.SyncPage(ctx, SyncPageInput{ConnectionRef: r.ref, JobID: r.job})
	require.Equal(t, 3, r.signals(), "the page read across the PATCH stores nothing")
	require.Equal(t, []string{"repo:11"}, r.routes(), "the removed repository is not routed again")
	require.Equal(t, []string{"octo/a=granted"}, r.resources())
	require.Error(t, err, "the page is refused")
	require.True(t, isType(err, ErrTypeConnectionInactive), "ends as cancelled, not retried: %v", err)
}

// The page in flight at the PATCH is answered 404 (the repository removed
// from the config was then deleted at the provider): the repository the
// config no longer names is not recorded lost, so the connection is not
// degraded for it, and the pass ends as cancelled rather than failed. It
// recorded the lost repository, and the connection stayed degraded through
// completed syncs of the configured one until a new config.
func TestRemovedRepositoryAnswered404IsNotRecordedLost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRemovedRepo(t, "lost")
	r.conn.onFetch = r.patch
	r.conn.failAt[1] = fmt.Errorf("github: 404: %w", connectors.ErrNotFound)

	_, err := r.acts.SyncPage(ctx, SyncPageInput{ConnectionRef: r.ref, JobID: r.job})
	require.Equal(t, []string{"octo/a=granted"}, r.resources(), "the removed repository is not recorded lost")
	require.Equal(t, "healthy", healthOf(t, r.schema, r.tenant, r.connID))
	require.Error(t, err)
	require.True(t, isType(err, ErrTypeConnectionInactive), "ends as cancelled, not as a lost resource: %v", err)

	// A completed sync of the configured repository leaves it healthy.
	a := r.ref
	a.Stream = "pulls:octo/a"
	r.conn.pagedConnector.pages = 1
	job := r.begin(a)
	_, err = r.acts.SyncPage(ctx, SyncPageInput{ConnectionRef: a, JobID: job})
	require.NoError(t, err)
	_, err = r.acts.FinishJob(ctx, FinishJobInput{ConnectionRef: a, JobID: job, Status: poblysh.JobSucceeded, Synced: true})
	require.NoError(t, err)
	require.Equal(t, "healthy", healthOf(t, r.schema, r.tenant, r.connID))
}

// A proof read under an older config (a page, a watch pass, a re-proof
// that loaded the connection before a PATCH) records only the resources
// the config names when it is stored: a removed one is neither granted
// (routed) nor lost; a named one is recorded as proved.
func TestProofRecordsOnlyResourcesTheConfigNamesNow(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := newRemovedRepo(t, "proof")
	r.patch()
	p, _ := r.acts.Registry.Get("paged")
	conn := r.ref.Connection()

	kept, err := r.acts.recordProof(ctx, conn, p, &connectors.AccessReport{Granted: []connectors.Resource{r.conn.resource("octo/x")}})
	require.NoError(t, err)
	require.Equal(t, []string{"repo:11"}, r.routes(), "a removed repository is not granted")
	require.Equal(t, []string{"octo/a=granted"}, r.resources())
	require.Empty(t, kept.Granted)

	kept, err = r.acts.recordProof(ctx, conn, p, &connectors.AccessReport{Denied: []connectors.Denial{
		{Ref: "octo/x", Reason: "not found"}, {Ref: "octo/a", Reason: "not found"},
	}})
	require.NoError(t, err)
	require.Equal(t, []string{"octo/a"}, kept.DeniedRefs())
	require.Equal(t, []string{"octo/a=lost"}, r.resources(), "a removed repository is not recorded lost; a named one is")
	require.Empty(t, r.routes())
}
