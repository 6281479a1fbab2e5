package google

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
)

// Auth is the OAuth side of a Google connector. A connector embeds it and
// so implements connectors.Authorizer, connectors.ScopeChecker and
// connectors.Revoker.
type Auth struct {
	// Provider names the connector in error messages ("google-drive").
	Provider string
	// Config is the connector's configuration (client, endpoints).
	Config connectors.Config
	// Scopes are requested at authorization.
	Scopes []string
	// Required are the scopes the grant must carry (MissingScopes).
	Required []Requirement
	// UserinfoURL is the OpenID userinfo endpoint, used when a token
	// response carries no id_token.
	UserinfoURL string
}

// Requirement is a scope a connector needs and the scopes that grant it:
// any one of Any is enough (a wider scope includes a narrower one).
type Requirement struct {
	Name string
	Any  []string
}

// EmailRequirement is the sign-in scope every Google connector needs to
// identify the account. Google reports "email" under its full name in
// token responses.
var EmailRequirement = Requirement{"email", []string{"email", "https://www.googleapis.com/auth/userinfo.email"}}

// OAuth2Config returns the client config for redirectURL. Google accepts
// client credentials in the form body, which avoids x/oauth2's auto-detect
// round trip.
func (a Auth) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     a.Config.ClientID,
		ClientSecret: a.Config.ClientSecret,
		RedirectURL:  redirectURL,
		Scopes:       append([]string(nil), a.Scopes...),
		Endpoint: oauth2.Endpoint{
			AuthURL:   a.Config.Endpoints.AuthURL,
			TokenURL:  a.Config.Endpoints.TokenURL,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// AuthCodeOptions asks for offline access with a fresh consent: Google only
// returns a refresh token with access_type=offline, and on re-authorization
// only when prompt=consent.
func (a Auth) AuthCodeOptions() []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{
		oauth2.AccessTypeOffline,
		oauth2.SetAuthURLParam("prompt", "consent"),
		oauth2.SetAuthURLParam("include_granted_scopes", "true"),
	}
}

// idClaims are the OpenID Connect claims the connectors read.
type idClaims struct {
	Sub          string          `json:"sub"`
	Email        string          `json:"email"`
	Name         string          `json:"name"`
	HostedDomain string          `json:"hd"`
	Audience     json.RawMessage `json:"aud"`
}

// hasAudience reports whether aud (a string or an array) names clientID.
func (c idClaims) hasAudience(clientID string) bool {
	var one string
	if json.Unmarshal(c.Audience, &one) == nil {
		return one == clientID
	}
	var many []string
	if json.Unmarshal(c.Audience, &many) == nil {
		for _, a := range many {
			if a == clientID {
				return true
			}
		}
	}
	return false
}

// Identify reads the Google account from the id_token of the token response
// (the openid and email scopes make Google return one). The JWT's signature
// is not checked: it came straight from the configured token endpoint over
// TLS in the code flow, which OpenID Connect Core §3.1.3.7 accepts in place
// of signature validation; its audience must still be this client. Without
// an id_token it falls back to the OpenID userinfo endpoint (which the email
// scope allows), so no API scope wider than the connector's is needed.
func (a Auth) Identify(ctx context.Context, tok *oauth2.Token, client *http.Client) (connectors.Account, error) {
	if tok == nil {
		return connectors.Account{}, fmt.Errorf("%s: identify: %w: no token", a.Provider, connectors.ErrUnauthorized)
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		claims, err := decodeIDToken(raw)
		if err != nil {
			return connectors.Account{}, fmt.Errorf("%s: identify: %w", a.Provider, err)
		}
		if a.Config.ClientID != "" && !claims.hasAudience(a.Config.ClientID) {
			return connectors.Account{}, fmt.Errorf("%s: identify: %w: id_token audience is not this client", a.Provider, connectors.ErrUnauthorized)
		}
		if claims.Email != "" && claims.Sub != "" {
			return a.account(claims)
		}
	}
	claims, err := a.userinfo(ctx, client)
	if err != nil {
		return connectors.Account{}, fmt.Errorf("%s: identify: %w", a.Provider, err)
	}
	return a.account(claims)
}

func (a Auth) account(claims idClaims) (connectors.Account, error) {
	acct, err := accountFrom(claims)
	if err != nil {
		return acct, fmt.Errorf("%s: identify: %w", a.Provider, err)
	}
	return acct, nil
}

// decodeIDToken decodes the payload of a compact JWT without verifying it.
func decodeIDToken(raw string) (idClaims, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return idClaims{}, fmt.Errorf("%w: id_token is not a JWT", connectors.ErrUnauthorized)
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return idClaims{}, fmt.Errorf("%w: id_token payload is not base64url", connectors.ErrUnauthorized)
	}
	var claims idClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return idClaims{}, fmt.Errorf("%w: id_token payload is not JSON", connectors.ErrUnauthorized)
	}
	return claims, nil
}

// userinfo calls the OpenID userinfo endpoint with the authorized client.
func (a Auth) userinfo(ctx context.Context, client *http.Client) (idClaims, error) {
	u := a.UserinfoURL
	if u == "" {
		u = UserinfoURL
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return idClaims{}, fmt.Errorf("userinfo request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return idClaims{}, fmt.Errorf("userinfo: %w", UnwrapURLError(err))
	}
	defer resp.Body.Close()
	if err := connectors.ClassifyResponse(resp); err != nil {
		return idClaims{}, fmt.Errorf("userinfo: %w", err)
	}
	var claims idClaims
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&claims); err != nil {
		return idClaims{}, fmt.Errorf("userinfo: %w: decode: %v", connectors.ErrTransient, err)
	}
	if claims.Email == "" {
		return idClaims{}, fmt.Errorf("userinfo: %w: no email (was the email scope granted?)", connectors.ErrForbidden)
	}
	return claims, nil
}

// accountFrom builds the account: the OpenID subject is the id (Google's
// stable account id; an email can change and be given to someone else),
// the email is kept as metadata for display, as the primary calendar's id
// and as the mailbox Gmail pushes name.
func accountFrom(c idClaims) (connectors.Account, error) {
	if c.Sub == "" {
		return connectors.Account{}, fmt.Errorf("%w: the identity carries no subject (sub)", connectors.ErrUnauthorized)
	}
	email := strings.ToLower(c.Email)
	name := c.Name
	if name == "" {
		name = email
	}
	md := map[string]string{"email": email}
	if c.HostedDomain != "" {
		md["hd"] = c.HostedDomain
	}
	return connectors.Account{ID: c.Sub, Name: name, Metadata: md}, nil
}

// AccountEmail is the connected account's email: metadata for connections
// made since accounts are keyed by subject, the id for older ones.
func AccountEmail(acct connectors.Account) string {
	if e := acct.Metadata["email"]; e != "" {
		return e
	}
	if strings.Contains(acct.ID, "@") {
		return acct.ID
	}
	return ""
}

// MissingScopes names the required scopes the grant lacks. With granular
// consent a user may untick an API permission and still approve; the token
// works for sign-in but every API call would fail.
func (a Auth) MissingScopes(granted []string) []string {
	have := map[string]bool{}
	for _, s := range granted {
		have[s] = true
	}
	var missing []string
	for _, r := range a.Required {
		ok := false
		for _, alt := range r.Any {
			ok = ok || have[alt]
		}
		if !ok {
			missing = append(missing, r.Name)
		}
	}
	return missing
}

// Revoke revokes the grant at Google (POST token=<refresh or access token>);
// revoking either token revokes the whole grant. A token Google no longer
// knows (400 invalid_token) is already revoked and is not an error. The HTTP
// client is taken from ctx (connectors.WithHTTPClient) when present.
func (a Auth) Revoke(ctx context.Context, _ connectors.Account, tok *oauth2.Token) error {
	if tok == nil || a.Config.Endpoints.RevokeURL == "" {
		return nil
	}
	token := tok.RefreshToken
	if token == "" {
		token = tok.AccessToken
	}
	if token == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.Config.Endpoints.RevokeURL,
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return fmt.Errorf("%s: revoke request: %w", a.Provider, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := TokenClient(ctx).Do(req)
	if err != nil {
		err = UnwrapURLError(err)
		if k := connectors.Kind(err); errors.Is(err, k) {
			return fmt.Errorf("%s: revoke: %w", a.Provider, err)
		}
		return fmt.Errorf("%s: revoke: %w: %s", a.Provider, connectors.ErrTransient, describe(err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode < 300 {
		return nil
	}
	var oe struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &oe)
	if resp.StatusCode == http.StatusBadRequest && oe.Error == "invalid_token" {
		return nil
	}
	if resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%s: revoke: %w: HTTP %d", a.Provider, connectors.ErrTransient, resp.StatusCode)
	}
	return fmt.Errorf("%s: revoke: %w: HTTP %d %s", a.Provider, connectors.ErrInvalidConfig, resp.StatusCode, oe.Error)
}

// TokenClient is the HTTP client the engine put in ctx for token-endpoint
// calls (connectors.WithHTTPClient), or a plain one.
func TokenClient(ctx context.Context) *http.Client {
	if c, ok := ctx.Value(oauth2.HTTPClient).(*http.Client); ok && c != nil {
		return c
	}
	return &http.Client{Timeout: 30 * time.Second}
}

// UnwrapURLError drops the *url.Error layer, whose message repeats the full
// request URL (query included); the neutral error inside already names the
// method and path.
func UnwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// describe names a network error without its details.
func describe(err error) string {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return err.Error()
	}
	return "network error"
}
