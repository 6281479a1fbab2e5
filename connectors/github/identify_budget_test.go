package github

import (
	"context"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// A connect callback identifies the user before the account is known, so
// its client has no account id (lifecycle's identify). Such clients must
// not share a budget: one user's rate-limited GET /user held every other
// user's connect in the process, for every tenant, for up to 30 minutes.
func TestIdentifyOfAnotherUserIsNotHeldByOnesRateLimit(t *testing.T) {
	s, p, reg := newLimitServer(t, http.StatusForbidden, nil)
	c := p.Connector.(*Connector)
	_, err := c.Identify(context.Background(), &oauth2.Token{AccessToken: "tok-a"}, reg.HTTPClient(p, "", "tok-a"))
	require.Error(t, err)
	require.Equal(t, 1, s.count("tok-a"))
	s.mu.Lock()
	s.status = http.StatusOK
	s.mu.Unlock()
	_, err = c.Identify(context.Background(), &oauth2.Token{AccessToken: "tok-b"}, reg.HTTPClient(p, "", "tok-b"))
	require.Equal(t, 1, s.count("tok-b"), "another user's identify reaches GitHub (got %v)", err)
}
