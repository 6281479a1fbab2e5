package lifecycle_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/db"
	"github.com/poblysh/poblysh/lifecycle"
)

// What a re-authorization's token replaces, to be revoked once it is
// stored (Spec.RevokeReplacedToken): never a token it keeps.
func TestReplacedBy(t *testing.T) {
	t.Parallel()
	expiry := time.Date(2026, 12, 7, 1, 0, 0, 0, time.UTC)
	zoho := &db.Tokens{AccessToken: "1000.old-access", RefreshToken: "1000.old-refresh", TokenType: "Bearer", Expiry: &expiry}
	github := &db.Tokens{AccessToken: "gho_old", TokenType: "bearer"}
	for _, tc := range []struct {
		name string
		old  *db.Tokens
		tok  *oauth2.Token
		want *oauth2.Token
	}{
		{"a new refresh token replaces the stored one", zoho, &oauth2.Token{AccessToken: "1000.new-access", RefreshToken: "1000.new-refresh"},
			&oauth2.Token{AccessToken: "1000.old-access", RefreshToken: "1000.old-refresh", TokenType: "Bearer", Expiry: expiry}},
		{"an answer without a refresh token keeps the stored one", zoho, &oauth2.Token{AccessToken: "1000.new-access"}, nil},
		{"the same refresh token again is kept", zoho, &oauth2.Token{AccessToken: "1000.new-access", RefreshToken: "1000.old-refresh"}, nil},
		{"the same access token is never named", zoho, &oauth2.Token{AccessToken: "1000.old-access", RefreshToken: "1000.new-refresh"},
			&oauth2.Token{RefreshToken: "1000.old-refresh", TokenType: "Bearer", Expiry: expiry}},
		{"a new access token replaces one without a refresh token", github, &oauth2.Token{AccessToken: "gho_new"},
			&oauth2.Token{AccessToken: "gho_old", TokenType: "bearer"}},
		{"the same access token again is kept", github, &oauth2.Token{AccessToken: "gho_old"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, lifecycle.ReplacedBy(tc.old, tc.tok))
		})
	}
}
