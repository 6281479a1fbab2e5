package github

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
	githubsandbox "github.com/poblysh/poblysh/sandbox/github"
)

// TestProveAccess: a repository enters the routes only after the
// connection's own token has read it; it is routed by its numeric id, so a
// renamed repository keeps its route; a private repository of someone else
// is denied, naming it and the reason.
func TestProveAccess(t *testing.T) {
	h := newHarness(t, githubsandbox.Options{}, nil)
	_, err := h.srv.CreateRepo("acme/secret-plans", "", true)
	require.NoError(t, err)
	_, err = h.srv.CreateRepo("octocat/spoon-knife", "", false)
	require.NoError(t, err)
	_, err = h.srv.Rename("octocat/spoon-knife", "", "spoon-fork")
	require.NoError(t, err)

	conn := h.conn
	conn.Config = json.RawMessage(`{"repos":["octo-org/hello-world","acme/secret-plans","octocat/spoon-knife"]}`)
	c := h.connector()
	report, err := c.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: h.client()})
	require.NoError(t, err)
	require.Len(t, report.Granted, 2)
	require.Equal(t, connectors.Resource{Ref: "octo-org/hello-world", ID: "1296269", Name: "octo-org/hello-world",
		RouteKeys: []string{"repo:1296269"}}, report.Granted[0])
	require.Equal(t, "octocat/spoon-knife", report.Granted[1].Ref, "the config's name stays the ref")
	require.Equal(t, "octocat/spoon-fork", report.Granted[1].Name, "the redirect gives the new name")
	require.Equal(t, []string{"repo:" + report.Granted[1].ID}, report.Granted[1].RouteKeys)
	require.Equal(t, []string{"acme/secret-plans"}, report.DeniedRefs())
	require.ErrorIs(t, report.Denied[0].Err, connectors.ErrNotFound)
	ae := &connectors.AccessError{Report: report}
	require.Contains(t, ae.Error(), "acme/secret-plans: not found")

	only, err := c.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: h.client(), Only: []string{"acme/secret-plans"}})
	require.NoError(t, err)
	require.Empty(t, only.Granted)
	require.Len(t, only.Denied, 1)

	// Access granted later: the same proof now grants it.
	require.NoError(t, h.srv.SetCollaborator("acme/secret-plans", githubsandbox.SeedUser, true))
	report, err = c.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: h.client(), Only: []string{"acme/secret-plans"}})
	require.NoError(t, err)
	require.Len(t, report.Granted, 1)
	require.Empty(t, report.Denied)

	// Failures that say nothing about access are errors, not denials.
	h.srv.OAuth.ExpireAccessTokens()
	_, err = c.ProveAccess(context.Background(), connectors.AccessRequest{Connection: conn, HTTP: h.client()})
	require.ErrorIs(t, err, connectors.ErrUnauthorized)
}
