package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/client/tenants"
	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
	"github.com/poblysh/poblysh/workflows"
)

// adminDo sends a request with the admin key and returns status and body.
func (s *stack) adminDo(method, path, body string) (int, string) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.base+path, strings.NewReader(body))
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.adminKey)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := s.http.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// tenantRefs counts, in every table of the schema (enumerated from
// information_schema, so a table added later is covered), the rows whose
// uuid or uuid[] columns hold one of ids, or whose text and jsonb columns
// mention one. The operator's record of a tenant's deletion (its job) is
// left out: it is the operator's, and names the tenant in its workflow id.
func (s *stack) tenantRefs(ids ...string) map[string]int {
	s.t.Helper()
	ctx := context.Background()
	rows, err := s.owner().Query(ctx, `SELECT table_name, column_name, udt_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND udt_name IN ('uuid', '_uuid', 'text', 'jsonb')
		AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')
		ORDER BY table_name, column_name`)
	require.NoError(s.t, err)
	type col struct{ table, column, typ string }
	var cols []col
	for rows.Next() {
		var c col
		require.NoError(s.t, rows.Scan(&c.table, &c.column, &c.typ))
		cols = append(cols, c)
	}
	require.NoError(s.t, rows.Err())
	require.NotEmpty(s.t, cols)
	out := map[string]int{}
	for _, c := range cols {
		var cond string
		var arg any = ids
		switch c.typ {
		case "uuid":
			cond = fmt.Sprintf("%q = ANY ($1::uuid[])", c.column)
		case "_uuid":
			cond = fmt.Sprintf("%q && $1::uuid[]", c.column)
		default:
			cond, arg = fmt.Sprintf("%q::text ~ $1", c.column), strings.Join(ids, "|")
		}
		if c.table == "jobs" {
			cond = "(" + cond + ") AND kind <> 'tenant_deletion'"
		}
		n := s.count(fmt.Sprintf("SELECT count(*) FROM %q WHERE %s", c.table, cond), arg)
		if n > 0 {
			out[c.table+"."+c.column] = n
		}
	}
	return out
}

// TestTenantAdmin: the admin key lists, reads, renames and configures
// tenants, and deletes one as a workflow whose job it follows. The deletion
// revokes the keys, disconnects every connection (schedules and workflows
// gone, the token revoked at the provider), purges Signals and webhook
// payloads, and leaves nothing of the tenant in any table, while the other
// tenant keeps everything, a delivery shared with it included.
func TestTenantAdmin(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 30}})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "10"}))
	f.Deliverer.SetTarget(s.base + "/api/v1/webhooks/fake")
	admin := httptransport.BearerToken(s.adminKey)
	ctx := context.Background()

	idA, keyA := s.tenant("Doomed Corp")
	idB, keyB := s.tenant("Keeper Inc")
	code, body := s.connectAs(keyA, "fake", "alice", nil)
	require.Equal(t, http.StatusOK, code, body)
	connA := string(*connectionOf(t, body).ID)
	connB := string(*s.connect(keyB, "fake", nil).ID)
	s.waitJobs(keyA, connA, "backfill", 1, 60*time.Second)
	s.waitJobs(keyB, connB, "backfill", 1, 60*time.Second)
	// A delivery routed to both tenants (one account), and a second key.
	code, body = post(t, s.base+"/api/v1/webhooks/fake", f.Build(fakesandbox.Delivery{Stream: "items", Items: f.Add("items", 2)}))
	require.Equal(t, http.StatusOK, code, body)
	s.feed(keyA, 32, 30*time.Second)
	s.feed(keyB, 32, 30*time.Second)
	code, body = s.adminDo(http.MethodPost, "/api/v1/api-keys", `{"tenant_id":"`+idA+`","name":"second"}`)
	require.Equal(t, http.StatusCreated, code, body)
	var tokensA []string
	for _, tok := range f.OAuth.Issued() {
		if g, err := f.OAuth.Check(tok); err == nil && g.UserID == "alice" {
			tokensA = append(tokensA, tok)
		}
	}
	require.NotEmpty(t, tokensA, "alice's access token")

	// List (paginated), get, patch.
	limit := int64(1)
	page, err := s.client.Tenants.ListTenants(tenants.NewListTenantsParams().WithLimit(&limit), admin)
	require.NoError(t, err)
	require.NoError(t, page.Payload.Validate(strfmt.Default))
	require.Len(t, page.Payload.Tenants, 1)
	require.Equal(t, idB, string(*page.Payload.Tenants[0].ID), "newest first")
	require.NotNil(t, page.Payload.NextCursor)
	page, err = s.client.Tenants.ListTenants(tenants.NewListTenantsParams().WithLimit(&limit).WithCursor(page.Payload.NextCursor), admin)
	require.NoError(t, err)
	require.Equal(t, idA, string(*page.Payload.Tenants[0].ID))
	got, err := s.client.Tenants.GetTenant(tenants.NewGetTenantParams().WithID(idA), admin)
	require.NoError(t, err)
	require.NoError(t, got.Payload.Validate(strfmt.Default))
	require.EqualValues(t, 4, *got.Payload.SyncConcurrency, "the environment's default")
	require.True(t, *got.Payload.SyncConcurrencyDefault)
	require.EqualValues(t, 1, *got.Payload.Connections)
	require.EqualValues(t, 2, *got.Payload.APIKeys)
	upd, err := s.client.Tenants.UpdateTenant(tenants.NewUpdateTenantParams().WithID(idB).
		WithBody(&models.TenantUpdateRequest{Name: "Keeper Ltd", SyncConcurrency: ptr(int64(2))}), admin)
	require.NoError(t, err)
	require.Equal(t, "Keeper Ltd", *upd.Payload.Name)
	require.EqualValues(t, 2, *upd.Payload.SyncConcurrency)
	require.False(t, *upd.Payload.SyncConcurrencyDefault)
	code, body = s.adminDo(http.MethodPatch, "/api/v1/tenants/"+idB, `{"sync_concurrency": null}`)
	require.Equal(t, http.StatusOK, code, body)
	require.Contains(t, body, `"sync_concurrency":4,"sync_concurrency_default":true`)
	for _, bad := range []string{`{"sync_concurrency": 0}`, `{"sync_concurrency": 1001}`, `{"sync_concurrency": "2"}`, `{"name": ""}`} {
		code, body = s.adminDo(http.MethodPatch, "/api/v1/tenants/"+idB, bad)
		require.Equal(t, http.StatusUnprocessableEntity, code, "%s: %s", bad, body)
	}
	code, _ = s.adminDo(http.MethodPatch, "/api/v1/tenants/"+idB, `{"sync_concurency": 2}`)
	require.Equal(t, http.StatusBadRequest, code, "unknown fields are refused")
	code, _ = s.adminDo(http.MethodGet, "/api/v1/tenants/6f1c2a8e-4b7d-4e09-9a51-3c2d7e8f9a10", "")
	require.Equal(t, http.StatusNotFound, code)

	// What B has before A goes.
	before := s.tenantRefs(idB, connB)
	require.NotEmpty(t, before)
	require.NotZero(t, s.tenantRefs(idA, connA)["signals.tenant_id"])

	// Delete: the name must be confirmed.
	code, body = s.adminDo(http.MethodDelete, "/api/v1/tenants/"+idA, "")
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	code, body = s.adminDo(http.MethodDelete, "/api/v1/tenants/"+idA+"?confirm=Doomed", "")
	require.Equal(t, http.StatusUnprocessableEntity, code, body)
	del, err := s.client.Tenants.DeleteTenant(tenants.NewDeleteTenantParams().WithID(idA).WithConfirm("Doomed Corp"), admin)
	require.NoError(t, err)
	require.NoError(t, del.Payload.Validate(strfmt.Default))
	job := del.Payload.Job
	require.Equal(t, models.JobKindTenantDeletion, *job.Kind)
	require.Nil(t, job.ConnectionID)
	require.Equal(t, workflows.TenantDeletionWorkflowID(s.taskQueue, idA), *job.WorkflowID)
	code, _ = s.adminDo(http.MethodGet, "/api/v1/tenants/"+idA, "")
	require.Equal(t, http.StatusNotFound, code, "a tenant being deleted leaves the admin API at once")
	// Asking again while it runs answers the same job (or 404 once it is done).
	code, body = s.adminDo(http.MethodDelete, "/api/v1/tenants/"+idA+"?confirm="+url.QueryEscape("Doomed Corp"), "")
	if code != http.StatusNotFound {
		require.Equal(t, http.StatusAccepted, code, body)
		require.Contains(t, body, `"id":"`+string(*job.ID)+`"`)
	}

	// Its progress is a job the admin key follows.
	eventually(t, 60*time.Second, "the deletion job to succeed", func() bool {
		res, err := s.client.Jobs.ListJobs(jobs.NewListJobsParams(), admin)
		require.NoError(t, err)
		require.NoError(t, res.Payload.Validate(strfmt.Default))
		require.Len(t, res.Payload.Jobs, 1)
		require.Equal(t, *job.ID, *res.Payload.Jobs[0].ID)
		st := *res.Payload.Jobs[0].Status
		require.NotEqual(t, models.JobStatusFailed, st, "%v", res.Payload.Jobs[0].Error)
		return st == models.JobStatusSucceeded
	})
	one, err := s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(*job.ID), admin)
	require.NoError(t, err)
	require.EqualValues(t, 1, *one.Payload.Pages, "one connection disconnected")
	res, err := s.client.Jobs.ListJobs(jobs.NewListJobsParams(), httptransport.BearerToken(keyB))
	require.NoError(t, err)
	for _, j := range res.Payload.Jobs {
		require.NotEqual(t, models.JobKindTenantDeletion, *j.Kind, "tenants never see operator jobs")
	}

	// Keys revoked, token revoked at the provider, schedule gone.
	_, err = s.client.Connections.ListConnections(connections.NewListConnectionsParams(), httptransport.BearerToken(keyA))
	require.Error(t, err, "the deleted tenant's key no longer works")
	for _, tok := range tokensA {
		_, err := f.OAuth.Check(tok)
		require.Error(t, err, "alice's token was revoked at the provider")
	}
	_, err = s.temporal.Client().ScheduleClient().GetHandle(ctx, workflows.PollScheduleID(s.taskQueue, connA)).Describe(ctx)
	var nf *serviceerror.NotFound
	require.ErrorAs(t, err, &nf, "the connection's schedule is gone")

	// Nothing of A remains anywhere; B lost nothing.
	require.Empty(t, s.tenantRefs(idA, connA), "rows that still name the deleted tenant or its connection")
	require.Equal(t, before, s.tenantRefs(idB, connB), "the other tenant lost nothing")
	require.Len(t, s.feed(keyB, 32, 10*time.Second), 32)
	require.Equal(t, 1, s.count(`SELECT count(*) FROM webhook_events WHERE $1::uuid = ANY (tenant_ids)`, idB),
		"the shared delivery stays for the other tenant")
	_, err = s.client.Connections.ListConnections(connections.NewListConnectionsParams(), httptransport.BearerToken(keyB))
	require.NoError(t, err)

	// Deleting again: 404.
	code, _ = s.adminDo(http.MethodDelete, "/api/v1/tenants/"+idA+"?confirm="+url.QueryEscape("Doomed Corp"), "")
	require.Equal(t, http.StatusNotFound, code)
}
