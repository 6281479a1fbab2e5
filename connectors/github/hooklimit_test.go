package github

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestWatchPastTwentyHooksPerEvent: GitHub takes at most 20 hooks per
// event on a repository ("you can only create up to 20 webhooks that
// subscribe to each individual event type") and refuses the next 422
// Validation Failed, `The "push" event cannot have more than 20 hooks`.
// Watch skips that repository with an error of kind invalid
// configuration, on which the watch pass polls it and keeps the others'
// hooks; the error names the limit and what to do (it said only
// "provider rejected the request (HTTP 422)"). Other repositories get
// their hooks.
func TestWatchPastTwentyHooksPerEvent(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	const other = "octo-org/other"
	_, err := h.srv.CreateRepo(other, "", false)
	require.NoError(t, err)
	for i := range githubsandbox.HookLimit {
		_, _, err := h.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{URL: fmt.Sprintf("https://ci.example/%d", i), Events: []string{"push"}})
		require.NoError(t, err)
	}
	chans, err := h.watchRepos(t, githubsandbox.SeedRepo, other)
	require.Equal(t, connectors.ErrInvalidConfig, connectors.Kind(err), "%v", err)
	require.ErrorIs(t, err, errHookLimit)
	for _, want := range []string{"create webhook on " + githubsandbox.SeedRepo, "at most 20 webhooks per event",
		`The "push" event cannot have more than 20 hooks`, "the connection polls instead", "delete unused webhooks"} {
		require.Contains(t, err.Error(), want)
	}
	require.NotContains(t, err.Error(), other)
	require.Len(t, chans, 1)
	require.Equal(t, other, chans[0].Target, "the other repository gets its hook")
	require.Equal(t, githubsandbox.HookLimit, h.srv.HookCount(githubsandbox.SeedRepo))

	// An edit that would subscribe the connection's hook to a full event
	// is refused the same way.
	require.NoError(t, h.srv.DeleteHook(githubsandbox.SeedRepo, h.srv.HookIDs(githubsandbox.SeedRepo)[0]))
	h.srv.Wait()
	first, err := h.watchRepos(t, githubsandbox.SeedRepo)
	require.NoError(t, err, "a free slot takes the hook")
	require.Len(t, first, 1)
	id := first[0].ID
	h.editHookAt(t, id, `{"events":["pull_request"]}`)
	_, _, err = h.srv.CreateHook(githubsandbox.SeedRepo, githubsandbox.HookInput{URL: "https://ci.example/last", Events: []string{"push"}})
	require.NoError(t, err)
	_, err = h.watchRepos(t, githubsandbox.SeedRepo)
	require.ErrorIs(t, err, errHookLimit)
	require.Contains(t, err.Error(), "update webhook on "+githubsandbox.SeedRepo)
}
