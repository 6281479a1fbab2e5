package gcalsandbox

import (
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// DeclineNext makes the next authorization approve everything asked except
// scopes, as a user does who unticks them on Google's granular consent
// screen (googlesandbox.OAuth.DeclineNext).
func (s *Server) DeclineNext(scopes ...string) error { return s.oauth.DeclineNext(scopes...) }

// Subject is the stable OpenID subject ("sub") of a sandbox user
// (googlesandbox.Subject).
func Subject(email string) string { return googlesandbox.Subject(email) }

// AccessToken runs an authorization for the default user with scopes
// (DefaultScopes when none) in-process and returns the access token, for
// tests that need an authorized API client.
func (s *Server) AccessToken(scopes ...string) string {
	if len(scopes) == 0 {
		scopes = DefaultScopes
	}
	return s.oauth.AccessToken("", scopes...)
}
