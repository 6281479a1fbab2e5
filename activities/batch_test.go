package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/db/dbtest"
)

// pagedConnector serves a stream of pages pages of three items each; the
// cursor is the number of pages read. failAt[n] is the error page n
// answers once.
type pagedConnector struct {
	spec  *connectors.Spec
	pages int

	mu      sync.Mutex
	fetched []int // the page each fetch asked for
	failAt  map[int]error
}

func (c *pagedConnector) Spec() *connectors.Spec { return c.spec }

func (c *pagedConnector) Streams(connectors.Connection) ([]string, error) {
	return []string{"items"}, nil
}

func (c *pagedConnector) FetchPage(_ context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	var n int
	if len(req.Cursor) > 0 {
		if err := json.Unmarshal(req.Cursor, &n); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetched = append(c.fetched, n)
	if err := c.failAt[n]; err != nil {
		delete(c.failAt, n)
		return nil, err
	}
	page := &connectors.Page{Items: 3, Next: json.RawMessage(fmt.Sprint(n + 1)), Done: n+1 >= c.pages}
	for i := range 3 {
		id := fmt.Sprintf("%d-%d", n, i)
		page.Signals = append(page.Signals, connectors.Signal{
			Kind: "item.created", OccurredAt: time.Unix(1_700_000_000+int64(n*3+i), 0), DedupeKey: "item:" + id,
			Payload: connectors.Payload{Title: "item " + id, URL: "https://example.test/" + id},
		})
	}
	return page, nil
}

func (c *pagedConnector) takeFetched() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	f := c.fetched
	c.fetched = nil
	return f
}

// pagedJob is a backfill job begun on the "items" stream of a connection of
// pagedConnector (7 pages of 3 items), for SyncPage to run.
type pagedJob struct {
	schema         *dbtest.Schema
	conn           *pagedConnector
	acts           *Activities
	tenant, connID string
	ref            poblysh.ConnectionRef
	job            string
}

func newPagedJob(t *testing.T, tenantName string, tenantConcurrency, pagesPerActivity int) *pagedJob {
	t.Helper()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "paged"}
	conn := &pagedConnector{spec: spec, pages: 7, failAt: map[int]error{}}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: conn}),
		KeyRing: kr, TenantConcurrency: tenantConcurrency, PagesPerActivity: pagesPerActivity}
	tenant, connID := seedWithToken(t, schema, kr, tenantName, "paged")
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged", Stream: "items"}
	job := uuid.NewString()
	_, err := acts.BeginJob(context.Background(), BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobBackfill,
		Trigger: poblysh.TriggerManual, WorkflowID: "q:sync/" + connID + "/items", ResetCursor: true})
	require.NoError(t, err)
	return &pagedJob{schema: schema, conn: conn, acts: acts, tenant: tenant, connID: connID, ref: ref, job: job}
}

// One SyncPage activity stores up to PagesPerActivity pages, each with its
// cursor and the job's progress, and reports how many; an error on a later
// page is the activity's, and the pages before it stay stored.
func TestSyncPageStoresABatchOfPages(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newPagedJob(t, "batch", 4, 3)
	schema, conn, acts, tenant, connID, ref, job := f.schema, f.conn, f.acts, f.tenant, f.connID, f.ref, f.job
	var err error
	cursor := func() string {
		var cur db.Cursor
		require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
			cur, err = tx.GetCursor(ctx, connID, "items")
			return err
		}))
		return string(cur.Value)
	}
	page := func() SyncPageResult {
		r, err := acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
		require.NoError(t, err)
		return r
	}

	require.Equal(t, SyncPageResult{Pages: 3, Items: 9, Stored: 9}, page())
	require.Equal(t, []int{0, 1, 2}, conn.takeFetched())
	require.Equal(t, "3", cursor(), "each page's cursor is stored with it")

	// The second page of the next batch is refused: the activity fails as
	// that page alone would (a rate limit, for Temporal to wait out), the
	// page before it stays stored, and the retry starts after it.
	conn.failAt[4] = &connectors.RateLimited{RetryAfter: 3 * time.Second, Reason: "HTTP 429"}
	_, err = acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "an activity failure, got %v", err)
	require.Equal(t, ErrTypeRateLimited, appErr.Type())
	require.Equal(t, []int{3, 4}, conn.takeFetched())
	require.Equal(t, "4", cursor(), "the page before the failure is stored")

	require.Equal(t, SyncPageResult{Pages: 3, Items: 9, Stored: 9, Done: true}, page(), "the batch ends with the stream")
	require.Equal(t, []int{4, 5, 6}, conn.takeFetched())

	var j *db.Job
	var stored int
	require.NoError(t, schema.DB.WithTenant(ctx, tenant, func(tx *db.Tx) (err error) {
		if j, err = tx.FindJob(ctx, job); err != nil {
			return err
		}
		return tx.GetContext(ctx, &stored, `SELECT count(*) FROM signals WHERE connection_id = $1`, connID)
	}))
	require.Equal(t, 7, j.Pages, "the job counts every page once")
	require.Equal(t, 21, stored)

	// One page per activity when so configured; a redone stream stores
	// nothing twice.
	acts.PagesPerActivity = 1
	_, err = acts.ResetCursor(ctx, ResetCursorInput{ConnectionRef: ref})
	require.NoError(t, err)
	require.Equal(t, SyncPageResult{Pages: 1, Items: 3, Duplicates: 3}, page())
	require.Equal(t, []int{0}, conn.takeFetched())
}

// reauthorizingConnector refuses its next refusals fetches as a provider
// refuses a revoked grant, each after storing new tokens as a reconnect
// does meanwhile.
type reauthorizingConnector struct {
	*pagedConnector
	reconnect func()
	refusals  int
}

func (c *reauthorizingConnector) FetchPage(ctx context.Context, req connectors.PageRequest) (*connectors.Page, error) {
	if c.refusals > 0 {
		c.refusals--
		c.reconnect()
		return nil, fmt.Errorf("token_revoked: %w", connectors.ErrUnauthorized)
	}
	return c.pagedConnector.FetchPage(ctx, req)
}

// TestSyncPageRetriesARefusalOfTokensItNoLongerHolds: a page that loaded
// its token before the connection was disconnected and reconnected (no
// refresh token, as with Slack) is refused with the revoked grant. The
// refusal is of the old grant: the page retries with the new token, or
// (re-authorized again meanwhile) fails as transient, and the connection
// stays healthy (it was marked needs_reauth, found by deleting and
// reconnecting a syncing Slack connection in make dev).
func TestSyncPageRetriesARefusalOfTokensItNoLongerHolds(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	schema := dbtest.NewSchema(t)
	kr := dbtest.KeyRing(t)
	spec := &connectors.Spec{Name: "paged"}
	tenant, connID := seedWithToken(t, schema, kr, "reauth", "paged")
	grants := 0
	conn := &reauthorizingConnector{pagedConnector: &pagedConnector{spec: spec, pages: 1, failAt: map[int]error{}}, refusals: 1, reconnect: func() {
		grants++
		saveAccess(t, schema, kr, tenant, connID, fmt.Sprint("grant-", grants))
	}}
	acts := &Activities{DB: schema.DB, Registry: connectors.NewRegistry(&connectors.Provider{Spec: spec, Connector: conn}),
		KeyRing: kr, TenantConcurrency: 4, PagesPerActivity: 3}
	ref := poblysh.ConnectionRef{TenantID: tenant, ConnectionID: connID, Provider: "paged", Stream: "items"}
	job := uuid.NewString()
	_, err := acts.BeginJob(ctx, BeginJobInput{ConnectionRef: ref, JobID: job, Kind: poblysh.JobBackfill, Trigger: poblysh.TriggerManual,
		WorkflowID: "q:sync/" + connID + "/items", ResetCursor: true})
	require.NoError(t, err)
	health := func() string { return healthOf(t, schema, tenant, connID) }
	// Re-authorized twice while the page ran: both refusals are of old
	// grants; the activity fails as transient, and its retry reads the
	// token then stored.
	conn.refusals = 2
	_, err = acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "an activity failure, got %v", err)
	require.Equal(t, ErrTypeTransient, appErr.Type())
	require.Equal(t, "healthy", health())
	// Re-authorized once: the page retries at once with the new token.
	conn.refusals = 1
	r, err := acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	require.NoError(t, err)
	require.Equal(t, SyncPageResult{Pages: 1, Items: 3, Stored: 3, Done: true}, r)
	require.Equal(t, "healthy", health())

	// A refusal of the token it holds still means what it says.
	conn.failAt[1] = fmt.Errorf("token_revoked: %w", connectors.ErrUnauthorized)
	conn.pages = 2
	_, err = acts.SyncPage(ctx, SyncPageInput{ConnectionRef: ref, JobID: job})
	require.True(t, errors.As(err, &appErr), "an activity failure, got %v", err)
	require.Equal(t, ErrTypeUnauthorized, appErr.Type())
	require.Equal(t, "needs_reauth", health())
}
