package jira

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
)

// Compile-time checks of the optional capabilities.
var (
	_ connectors.Authorizer     = (*Connector)(nil)
	_ connectors.AccountChooser = (*Connector)(nil)
	_ connectors.Exchanger      = (*Connector)(nil)
	_ connectors.Refresher      = (*Connector)(nil)
	_ connectors.GrantExpirer   = (*Connector)(nil)
)

// OAuth2Config returns the 3LO client. Atlassian's token endpoint takes a
// JSON body; Exchange and Refresh speak it, the config serves the
// authorize URL.
func (c *Connector) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   cmpOr(c.cfg.Endpoints.AuthURL, defaults.AuthURL),
			TokenURL:  cmpOr(c.cfg.Endpoints.TokenURL, defaults.TokenURL),
			AuthStyle: oauth2.AuthStyleInParams,
		},
		RedirectURL: redirectURL,
		Scopes:      Scopes,
	}
}

// AuthCodeOptions adds audience=api.atlassian.com (tokens for the API
// gateway) and prompt=consent (the consent screen, where the user picks
// the sites the app may reach).
func (c *Connector) AuthCodeOptions() []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{
		oauth2.SetAuthURLParam("audience", "api.atlassian.com"),
		oauth2.SetAuthURLParam("prompt", "consent"),
	}
}

// Exchange redeems an authorization code with a JSON body, as Atlassian
// documents (grant_type, client_id, client_secret, code, redirect_uri).
func (c *Connector) Exchange(ctx context.Context, req connectors.ExchangeRequest) (*oauth2.Token, error) {
	return c.token(ctx, map[string]string{
		"grant_type": "authorization_code", "code": req.Code, "redirect_uri": req.RedirectURL,
	})
}

// Refresh spends a refresh token. Atlassian rotates it: the answer carries
// a new one and the old stays usable for 10 minutes only; reusing it
// later revokes the whole family (the engine persists the new token before
// anything else can fail, and keeps the spent one for one retry).
func (c *Connector) Refresh(ctx context.Context, _ connectors.Account, refreshToken string) (*oauth2.Token, error) {
	return c.token(ctx, map[string]string{"grant_type": "refresh_token", "refresh_token": refreshToken})
}

// token posts to the token endpoint with the *http.Client in ctx
// (connectors.WithHTTPClient). Errors are *oauth2.RetrieveError, so
// connectors.ClassifyOAuthError maps invalid_grant (Atlassian answers 403
// "Unknown or invalid refresh token") to unauthorized.
func (c *Connector) token(ctx context.Context, form map[string]string) (*oauth2.Token, error) {
	if !c.cfg.Configured() {
		return nil, fmt.Errorf("jira: token: %w: client credentials are not configured", connectors.ErrInvalidConfig)
	}
	form["client_id"], form["client_secret"] = c.cfg.ClientID, c.cfg.ClientSecret
	body, _ := json.Marshal(form)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cmpOr(c.cfg.Endpoints.TokenURL, defaults.TokenURL), bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("jira: token: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jira: token endpoint: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("jira: token endpoint: %w", err)
	}
	var ans struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token"`
		TokenType    string `json:"token_type"`
		ExpiresIn    int64  `json:"expires_in"`
		Scope        string `json:"scope"`
		Error        string `json:"error"`
		Description  string `json:"error_description"`
	}
	_ = json.Unmarshal(raw, &ans)
	if resp.StatusCode >= 300 || ans.Error != "" || ans.AccessToken == "" {
		// The body is not kept: on success paths it holds tokens, and an
		// error needs only its code and description.
		return nil, &oauth2.RetrieveError{Response: resp, ErrorCode: ans.Error, ErrorDescription: ans.Description}
	}
	tok := &oauth2.Token{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken, TokenType: cmpOr(ans.TokenType, "Bearer")}
	if ans.ExpiresIn > 0 {
		tok.Expiry = c.now().Add(time.Duration(ans.ExpiresIn) * time.Second)
	}
	extra := map[string]any{}
	if ans.Scope != "" {
		extra["scope"] = ans.Scope
	}
	return tok.WithExtra(extra), nil
}

// GrantExpiry is 365 days after the consent recorded at connect
// (account metadata authorized_at): Atlassian's rotating refresh tokens
// stop working then, whatever their use.
func (c *Connector) GrantExpiry(conn connectors.Connection) time.Time {
	t, err := time.Parse(time.RFC3339, conn.Account.Metadata["authorized_at"])
	if err != nil {
		return time.Time{}
	}
	return t.Add(grantLifetime)
}
