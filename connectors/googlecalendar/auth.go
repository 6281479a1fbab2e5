package googlecalendar

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

// OAuth2Config returns the client config for redirectURL. Google accepts
// client credentials in the form body, which avoids x/oauth2's auto-detect
// round trip.
func (c *Connector) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		RedirectURL:  redirectURL,
		Scopes:       append([]string(nil), Scopes...),
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.cfg.Endpoints.AuthURL,
			TokenURL:  c.cfg.Endpoints.TokenURL,
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// AuthCodeOptions asks for offline access with a fresh consent: Google only
// returns a refresh token with access_type=offline, and on re-authorization
// only when prompt=consent.
func (c *Connector) AuthCodeOptions() []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{
		oauth2.AccessTypeOffline,
		oauth2.SetAuthURLParam("prompt", "consent"),
		oauth2.SetAuthURLParam("include_granted_scopes", "true"),
	}
}

// idClaims are the OpenID Connect claims the connector reads.
type idClaims struct {
	Sub           string          `json:"sub"`
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	Name          string          `json:"name"`
	HostedDomain  string          `json:"hd"`
	Audience      json.RawMessage `json:"aud"`
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
// scope allows). GET calendars/primary would need calendar.readonly, a wider
// scope than the connector requests.
func (c *Connector) Identify(ctx context.Context, tok *oauth2.Token, client *http.Client) (connectors.Account, error) {
	if tok == nil {
		return connectors.Account{}, fmt.Errorf("google-calendar: identify: %w: no token", connectors.ErrUnauthorized)
	}
	if raw, _ := tok.Extra("id_token").(string); raw != "" {
		claims, err := decodeIDToken(raw)
		if err != nil {
			return connectors.Account{}, fmt.Errorf("google-calendar: identify: %w", err)
		}
		if c.cfg.ClientID != "" && !claims.hasAudience(c.cfg.ClientID) {
			return connectors.Account{}, fmt.Errorf("google-calendar: identify: %w: id_token audience is not this client", connectors.ErrUnauthorized)
		}
		if claims.Email != "" {
			return accountFrom(claims), nil
		}
	}
	claims, err := c.userinfo(ctx, client)
	if err != nil {
		return connectors.Account{}, fmt.Errorf("google-calendar: identify: %w", err)
	}
	return accountFrom(claims), nil
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
func (c *Connector) userinfo(ctx context.Context, client *http.Client) (idClaims, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.userinfoURL, nil)
	if err != nil {
		return idClaims{}, fmt.Errorf("userinfo request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return idClaims{}, fmt.Errorf("userinfo: %w", unwrapURLError(err))
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

// accountFrom builds the account: the email is the id (it is also the
// primary calendar's id), the OpenID subject is kept as metadata.
func accountFrom(c idClaims) connectors.Account {
	email := strings.ToLower(c.Email)
	name := c.Name
	if name == "" {
		name = email
	}
	md := map[string]string{}
	if c.Sub != "" {
		md["sub"] = c.Sub
	}
	if c.HostedDomain != "" {
		md["hd"] = c.HostedDomain
	}
	if len(md) == 0 {
		md = nil
	}
	return connectors.Account{ID: email, Name: name, Metadata: md}
}

// Revoke revokes the grant at Google (POST token=<refresh or access token>);
// revoking either token revokes the whole grant. A token Google no longer
// knows (400 invalid_token) is already revoked and is not an error. The HTTP
// client is taken from ctx (connectors.WithHTTPClient) when present.
func (c *Connector) Revoke(ctx context.Context, _ connectors.Account, tok *oauth2.Token) error {
	if tok == nil || c.cfg.Endpoints.RevokeURL == "" {
		return nil
	}
	token := tok.RefreshToken
	if token == "" {
		token = tok.AccessToken
	}
	if token == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoints.RevokeURL,
		strings.NewReader(url.Values{"token": {token}}.Encode()))
	if err != nil {
		return fmt.Errorf("google-calendar: revoke request: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	client, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if client == nil {
		client = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := client.Do(req)
	if err != nil {
		err = unwrapURLError(err)
		if k := connectors.Kind(err); errors.Is(err, k) {
			return fmt.Errorf("google-calendar: revoke: %w", err)
		}
		return fmt.Errorf("google-calendar: revoke: %w: %s", connectors.ErrTransient, describe(err))
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
		return fmt.Errorf("google-calendar: revoke: %w: HTTP %d", connectors.ErrTransient, resp.StatusCode)
	}
	return fmt.Errorf("google-calendar: revoke: %w: HTTP %d %s", connectors.ErrInvalidConfig, resp.StatusCode, oe.Error)
}

// unwrapURLError drops the *url.Error layer, whose message repeats the full
// request URL (query included); the neutral error inside already names the
// method and path.
func unwrapURLError(err error) error {
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
