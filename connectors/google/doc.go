// Package google holds what the Google connectors (google-calendar,
// google-drive, gmail) share: the OAuth client with offline access and the
// OpenID identity (Auth), the granted-scope check, revocation, the
// classification of Google API errors (403 usageLimits reasons, 429), watch
// channel tokens, expiries, notifications and channels.stop, and a body
// capture that keeps provider objects exactly as Google sent them.
//
// It is a library, not a provider: it registers nothing.
package google

import (
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// Google's OAuth endpoints, the same for every Google API.
const (
	AuthURL     = "https://accounts.google.com/o/oauth2/v2/auth"
	TokenURL    = "https://oauth2.googleapis.com/token"
	RevokeURL   = "https://oauth2.googleapis.com/revoke"
	UserinfoURL = "https://openidconnect.googleapis.com/v1/userinfo"
)

// EnvFallback is the prefix every Google connector falls back to:
// POBLYSH_GOOGLE_CLIENT_ID serves Calendar, Drive and Gmail alike.
const EnvFallback = "GOOGLE"

// Endpoints returns Google's endpoints with the API root of one API.
func Endpoints(apiURL string) connectors.Endpoints {
	return connectors.Endpoints{AuthURL: AuthURL, TokenURL: TokenURL, APIURL: apiURL, RevokeURL: RevokeURL}
}

// TokenPolicy is how Google's tokens age: access tokens last an hour
// (expires_in 3599), refresh tokens are not rotated and lapse when unused
// for six months. Access tokens are refreshed when a call needs one: the
// sweep refreshing every hour-long token ahead cost an idle connection 24
// refresh workflows a day, three times its polling (docs/performance.md).
var TokenPolicy = connectors.TokenPolicy{
	Expires:             true,
	OnDemand:            true,
	RotatesRefreshToken: false,
	RefreshBefore:       10 * time.Minute,
	KeepAliveAfter:      30 * 24 * time.Hour,
}
