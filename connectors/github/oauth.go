package github

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
)

// OAuth2Config returns the web-flow client. GitHub reads client credentials
// from the form, and answers form-encoded unless asked for JSON; x/oauth2
// reads both, including GitHub's HTTP 200 error answers. Scopes are the
// spec's unless POBLYSH_GITHUB_SCOPES narrows them (e.g.
// "public_repo,admin:repo_hook" for public repositories only).
func (c *Connector) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   cmpOr(c.cfg.Endpoints.AuthURL, Spec.Defaults.AuthURL),
			TokenURL:  cmpOr(c.cfg.Endpoints.TokenURL, Spec.Defaults.TokenURL),
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURL,
		Scopes:      c.scopes,
	}
}

// AuthCodeOptions adds nothing: PKCE parameters come from the engine.
func (c *Connector) AuthCodeOptions() []oauth2.AuthCodeOption { return nil }

// Token kinds, kept in the account metadata ("token").
const (
	tokenOAuthApp  = "oauth_app"  // gho_: scopes, reaches whatever the user can
	tokenGitHubApp = "github_app" // ghu_: permissions, reaches what both the user and the app can
)

// isAppUserToken tells a GitHub App user access token: GitHub prefixes them
// ghu_, and answers them without X-OAuth-Scopes (that header comes with
// OAuth App tokens, even without scopes).
func isAppUserToken(tok *oauth2.Token, h http.Header) bool {
	if tok != nil && tok.AccessToken != "" {
		return strings.HasPrefix(tok.AccessToken, "ghu_")
	}
	return len(h.Values("X-OAuth-Scopes")) == 0
}

// appToken reports whether a connection holds a GitHub App user token.
func appToken(conn connectors.Connection) bool {
	return conn.Account.Metadata["token"] == tokenGitHubApp
}

// Identify reads GET /user: the account id is the numeric user id, the name
// its login. For OAuth App tokens the granted scopes (X-OAuth-Scopes) are
// kept in the metadata, and the kind of token (OAuth App or GitHub App user
// token) as "token".
func (c *Connector) Identify(ctx context.Context, tok *oauth2.Token, client *http.Client) (connectors.Account, error) {
	gc, err := c.client(client)
	if err != nil {
		return connectors.Account{}, err
	}
	u, resp, err := gc.Users.Get(ctx, "")
	if err != nil {
		return connectors.Account{}, fmt.Errorf("github: identify: %w", mapErr(err))
	}
	if u.GetID() == 0 || u.GetLogin() == "" {
		return connectors.Account{}, fmt.Errorf("github: identify: %w: GET /user has no id or login", connectors.ErrTransient)
	}
	acc := connectors.Account{
		ID:       strconv.FormatInt(u.GetID(), 10),
		Name:     u.GetLogin(),
		Metadata: map[string]string{"login": u.GetLogin(), "type": u.GetType()},
	}
	if s := resp.Header.Get("X-OAuth-Scopes"); s != "" {
		acc.Metadata["scopes"] = s
	}
	acc.Metadata["token"] = tokenOAuthApp
	if isAppUserToken(tok, resp.Header) {
		acc.Metadata["token"] = tokenGitHubApp
	}
	return acc, nil
}

// Revoke deletes the access token at GitHub: DELETE
// /applications/{client_id}/token with Basic client credentials and body
// {"access_token": ...}. An unknown token (404) is already revoked. It uses
// the *http.Client in ctx (connectors.WithHTTPClient) when there is one; it
// must not add its own Authorization header.
func (c *Connector) Revoke(ctx context.Context, _ connectors.Account, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" {
		return nil
	}
	if !c.cfg.Configured() {
		return fmt.Errorf("github: revoke token: %w: client credentials are not configured", connectors.ErrInvalidConfig)
	}
	body, err := json.Marshal(map[string]string{"access_token": tok.AccessToken})
	if err != nil {
		return fmt.Errorf("github: revoke token: %w", err)
	}
	target := strings.ReplaceAll(c.revokeURL, "{client_id}", url.PathEscape(c.cfg.ClientID))
	req, err := http.NewRequestWithContext(ctx, http.MethodDelete, target, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("github: revoke token: %w", err)
	}
	req.SetBasicAuth(c.cfg.ClientID, c.cfg.ClientSecret)
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		if errors.Is(err, connectors.ErrNotFound) {
			return nil
		}
		if connectors.Kind(err) != connectors.ErrTransient || errors.Is(err, connectors.ErrTransient) {
			return fmt.Errorf("github: revoke token: %w", err)
		}
		return fmt.Errorf("github: revoke token: %w: %s", connectors.ErrTransient, ctxOrNet(ctx))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode == http.StatusNotFound {
		return nil
	}
	if err := connectors.ClassifyResponse(resp); err != nil {
		return fmt.Errorf("github: revoke token: %w", err)
	}
	return nil
}

// ctxOrNet describes a failed call without echoing URLs or bodies.
func ctxOrNet(ctx context.Context) string {
	if err := ctx.Err(); err != nil {
		return err.Error()
	}
	return "network error"
}
