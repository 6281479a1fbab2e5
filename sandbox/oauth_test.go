package sandbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRefreshRevokesTheOldAccessTokenWhereDocumented: a rotating refresh
// revokes the access token issued with the spent refresh token only with
// RevokeAccessOnRefresh (GitHub: "Once you use a refresh token, that
// refresh token and the old user access token will no longer work.");
// without it (Slack, Atlassian) the old access token lives until it expires.
func TestRefreshRevokesTheOldAccessTokenWhereDocumented(t *testing.T) {
	for _, revoke := range []bool{true, false} {
		o := &OAuth{Refresh: true, RotateRefresh: true, RevokeAccessOnRefresh: revoke, DefaultUser: "u"}
		rec := httptest.NewRecorder()
		o.Authorize(rec, httptest.NewRequest(http.MethodGet, "/authorize?client_id=c&redirect_uri=http://localhost/cb", nil))
		loc, err := url.Parse(rec.Header().Get("Location"))
		require.NoError(t, err)
		first, err := o.Exchange("c", loc.Query().Get("code"), "", "")
		require.NoError(t, err)
		second, err := o.RefreshToken("c", first.RefreshToken)
		require.NoError(t, err)

		_, err = o.Check(second.AccessToken)
		require.NoError(t, err, "the new access token works")
		_, err = o.Check(first.AccessToken)
		if revoke {
			require.ErrorIs(t, err, ErrTokenInvalid, "the old access token no longer works")
		} else {
			require.NoError(t, err, "the old access token lives until it expires")
		}
	}
}
