package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/gen/client/jobs"
	"github.com/poblysh/poblysh/gen/client/signals"
	"github.com/poblysh/poblysh/gen/models"
	fakesandbox "github.com/poblysh/poblysh/sandbox/fake"
)

// waitJobs waits until the connection has at least n jobs of kind, all final.
func (s *stack) waitJobs(key, connID, kind string, n int, timeout time.Duration) []*models.Job {
	s.t.Helper()
	var out []*models.Job
	eventually(s.t, timeout, kind+" jobs to finish", func() bool {
		params := jobs.NewListJobsParams().WithConnectionID(ptr(strfmt.UUID(connID)))
		if kind != "" {
			params = params.WithKind(&kind)
		}
		res, err := s.client.Jobs.ListJobs(params, httptransport.BearerToken(key))
		require.NoError(s.t, err)
		require.NoError(s.t, res.Payload.Validate(strfmt.Default))
		out = res.Payload.Jobs
		if len(out) < n {
			return false
		}
		for _, j := range out {
			if *j.Status == models.JobStatusQueued || *j.Status == models.JobStatusRunning {
				return false
			}
		}
		return true
	})
	return out
}

// waitJob waits until a job is final and returns it.
func (s *stack) waitJob(key string, id strfmt.UUID, timeout time.Duration) *models.Job {
	s.t.Helper()
	var job *models.Job
	eventually(s.t, timeout, fmt.Sprintf("job %s to finish", id), func() bool {
		got, err := s.client.Jobs.GetJob(jobs.NewGetJobParams().WithID(id), httptransport.BearerToken(key))
		require.NoError(s.t, err)
		job = got.Payload
		return *job.Status != models.JobStatusQueued && *job.Status != models.JobStatusRunning
	})
	return job
}

// feed reads the whole Signals feed of a tenant (waiting for want rows).
func (s *stack) feed(key string, want int, timeout time.Duration) []*models.Signal {
	s.t.Helper()
	var all []*models.Signal
	var cursor *string
	limit := int64(1000)
	eventually(s.t, timeout, "signals in the feed", func() bool {
		for {
			res, err := s.client.Signals.ListSignals(signals.NewListSignalsParams().WithCursor(cursor).WithLimit(&limit), httptransport.BearerToken(key))
			require.NoError(s.t, err)
			require.NoError(s.t, res.Payload.Validate(strfmt.Default))
			all = append(all, res.Payload.Signals...)
			require.NotNil(s.t, res.Payload.NextCursor, "the feed always returns a cursor")
			cursor = res.Payload.NextCursor
			if len(res.Payload.Signals) < int(limit) {
				break
			}
		}
		return len(all) >= want
	})
	return all
}

func ptr[T any](v T) *T { return &v }

// TestConnectRefusesAnAccountIDThatIsNotText: a provider that names the
// account with a NUL (which Postgres cannot store, and which the service
// does not clean: two ids could become one) gets the callback a 502 that
// says so, not a 5xx about the database, and nothing is stored.
func TestConnectRefusesAnAccountIDThatIsNotText(t *testing.T) {
	t.Parallel()
	_, env := fakeSandbox(t, fakesandbox.Options{AccountID: "acct\x00one"})
	s := newStack(t, withEnv(env))
	_, key := s.tenant("Acme")
	code, body := s.connectAs(key, "fake", "alice", map[string]any{"streams": []string{"items"}})
	require.Equal(t, http.StatusBadGateway, code, body)
	require.Contains(t, body, `"code":"bad_gateway"`)
	require.Contains(t, body, "returned an account id that is not valid text")
	list, err := s.client.Connections.ListConnections(connections.NewListConnectionsParams(), httptransport.BearerToken(key))
	require.NoError(t, err)
	require.Empty(t, list.Payload.Connections)
}

func TestConnectBackfillFakeProvider(t *testing.T) {
	t.Parallel()
	f, env := fakeSandbox(t, fakesandbox.Options{Streams: map[string]int{"items": 1200, "other": 30}})
	s := newStack(t, withEnv(env), withEnv(map[string]string{"POBLYSH_FAKE_PAGE_SIZE": "100"}))
	f.Deliverer.SetTarget(s.base + "/api/v1/webhooks/fake")
	_, key := s.tenant("Acme")

	conn := s.connect(key, "fake", map[string]any{"streams": []string{"items", "other"}})
	require.Equal(t, "fake", *conn.Provider)
	require.Equal(t, fakesandbox.DefaultAccountID, *conn.ExternalAccountID)
	require.Equal(t, models.ConnectionHealthHealthy, *conn.Health)

	js := s.waitJobs(key, string(*conn.ID), "backfill", 2, 90*time.Second)
	var stored int64
	for _, j := range js {
		require.Equal(t, models.JobStatusSucceeded, *j.Status, "job %s: %v", *j.ID, j.Error)
		require.Equal(t, models.JobTriggerConnect, *j.Trigger)
		require.Contains(t, j.TemporalUIURL.String(), "/workflows/"+url.PathEscape(s.taskQueue+":sync/"))
		stored += *j.SignalsStored
	}
	require.EqualValues(t, 1230, stored)
	sigs := s.feed(key, 1230, 30*time.Second)
	require.Len(t, sigs, 1230)
	seen := map[string]bool{}
	for _, sg := range sigs {
		require.False(t, seen[string(*sg.ID)], "no Signal twice")
		seen[string(*sg.ID)] = true
		require.Equal(t, "fake", *sg.Source)
		require.Equal(t, "message.posted", *sg.Kind)
	}

	// Tokens are ciphertext at rest: the plaintext access token appears
	// nowhere in a pg_dump of the schema, nor in the logs.
	out, err := exec.CommandContext(context.Background(), "pg_dump", "--schema="+s.schema.Name, "--data-only", strings.Split(s.schema.OwnerURL, "?")[0]).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "pv1:", "tokens are stored as vault ciphertexts")
	issued := f.OAuth.Issued()
	require.NotEmpty(t, issued)
	for _, secret := range issued {
		require.NotContains(t, string(out), secret, "plaintext token in pg_dump")
		require.NotContains(t, s.logs.String(), secret, "plaintext token in the logs")
	}
	require.NotContains(t, s.logs.String(), s.cryptoKey)
	require.NotContains(t, s.logs.String(), s.adminKey)
}
