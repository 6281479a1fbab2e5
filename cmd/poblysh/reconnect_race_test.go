package main

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/go-openapi/strfmt"
	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/gen/client/connections"
	"github.com/poblysh/poblysh/sandbox"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestReconnectRacingAConfigChange: a re-authorization proves the config it
// read; a PATCH that changes the config while that proof runs makes the
// re-authorization a conflict, so routes always follow the stored config.
// (The callback stored the PATCHed config beside the old config's proved
// repositories: the repository the tenant removed stayed routed, read by no
// stream and so never found lost, and the new one was not routed.)
func TestReconnectRacingAConfigChange(t *testing.T) {
	t.Parallel()
	gh := githubsandbox.New(githubsandbox.Options{Seed: true})
	base := newHTTPServer(t, gh)
	s := newStack(t, withEnv(gh.Env(base)))
	const other = "octo-org/press-kit"
	_, err := gh.CreateRepo(other, "", false)
	require.NoError(t, err)
	_, key := s.tenant("Acme")
	c := s.connect(key, "github", map[string]any{"repos": []string{githubsandbox.SeedRepo}})
	id := string(*c.ID)
	s.waitJobs(key, id, "backfill", 3, 2*time.Minute)
	eventually(t, 30*time.Second, "the watch pass", func() bool { return *s.connection(key, id).PushEnabled })
	routed := func(repo string) int {
		return s.count(`SELECT count(*) FROM webhook_routes WHERE connection_id = $1 AND route_key = $2`, id,
			"repo:"+strconv.FormatInt(gh.RepoID(repo), 10))
	}
	require.Equal(t, 1, routed(githubsandbox.SeedRepo))

	re, err := s.client.Connections.ReconnectConnection(connections.NewReconnectConnectionParams().WithID(strfmt.UUID(id)),
		httptransport.BearerToken(key))
	require.NoError(t, err)
	callback := s.authorize(re.Payload.AuthorizationURL.String())
	// GitHub is slow to answer the proof of the stored config's repository;
	// meanwhile the tenant swaps it for another.
	gh.Faults.Add(sandbox.Fault{Delay: sandbox.Duration(3 * time.Second), PathPrefix: "/repos/" + githubsandbox.SeedRepo, Count: 1})
	patched := make(chan int, 1)
	go func() {
		time.Sleep(time.Second)
		req, _ := http.NewRequest(http.MethodPatch, s.base+"/api/v1/connections/"+id, strings.NewReader(`{"config":{"repos":["`+other+`"]}}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			patched <- 0
			return
		}
		resp.Body.Close()
		patched <- resp.StatusCode
	}()
	code, body := s.callback(callback)
	require.Equal(t, http.StatusOK, <-patched, "the PATCH is stored")
	require.Equal(t, http.StatusConflict, code, body)
	require.Contains(t, body, "settings changed")

	require.JSONEq(t, `{"repos":["`+other+`"]}`, string(mustJSON(t, s.connection(key, id).Config)))
	require.Equal(t, 1, routed(other), "the stored config's repository is routed")
	require.Zero(t, routed(githubsandbox.SeedRepo), "the repository the tenant removed is not")
}
