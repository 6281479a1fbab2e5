package connectors

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"

	"golang.org/x/oauth2"
)

// ClassifyOAuthError maps an error from the token endpoint (code exchange or
// refresh) to a neutral error: invalid_grant → ErrUnauthorized (the grant is
// revoked or expired; the user must reconnect); invalid_client and
// unauthorized_client → ErrInvalidConfig; 429 → rate limited; 5xx and
// network failures → transient. The provider's error_description is kept,
// tokens never appear in these messages.
func ClassifyOAuthError(err error) error {
	if err == nil {
		return nil
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		desc := re.ErrorCode
		if re.ErrorDescription != "" {
			desc += ": " + re.ErrorDescription
		}
		switch re.ErrorCode {
		case "invalid_grant", "bad_refresh_token", "bad_verification_code", "invalid_code", "token_revoked", "invalid_refresh_token":
			return fmt.Errorf("%w: %s", ErrUnauthorized, desc)
		case "invalid_client", "unauthorized_client", "incorrect_client_credentials", "invalid_client_id", "bad_client_secret", "redirect_uri_mismatch":
			return fmt.Errorf("%w: %s", ErrInvalidConfig, desc)
		}
		switch {
		case status == http.StatusTooManyRequests:
			d, _ := RateLimitDelay(re.Response.Header, timeNow())
			return &RateLimited{RetryAfter: d, Reason: "token endpoint"}
		case status >= 500:
			return fmt.Errorf("%w: token endpoint HTTP %d", ErrTransient, status)
		case status == http.StatusUnauthorized || status == http.StatusBadRequest:
			if desc == "" {
				desc = fmt.Sprintf("token endpoint HTTP %d", status)
			}
			return fmt.Errorf("%w: %s", ErrUnauthorized, desc)
		}
		if desc == "" {
			desc = fmt.Sprintf("token endpoint HTTP %d", status)
		}
		return fmt.Errorf("%w: %s", ErrTransient, desc)
	}
	if k := Kind(err); k != ErrTransient || errors.Is(err, ErrTransient) {
		return err
	}
	return fmt.Errorf("%w: token endpoint: %s", ErrTransient, describeNetErr(err))
}

// RandomToken returns n random bytes, base64url encoded, for states, PKCE
// verifiers, channel ids and secrets.
func RandomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("connectors: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// WithHTTPClient returns ctx carrying client for golang.org/x/oauth2 calls.
func WithHTTPClient(ctx context.Context, client *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, client)
}
