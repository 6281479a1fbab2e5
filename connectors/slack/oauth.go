package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	slackapi "github.com/slack-go/slack"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
)

// OAuth2Config implements connectors.Authorizer. Slack prefers client
// credentials in an HTTP Basic header on oauth.v2.access.
func (c *Connector) OAuth2Config(redirectURL string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:     c.cfg.ClientID,
		ClientSecret: c.cfg.ClientSecret,
		Endpoint: oauth2.Endpoint{
			AuthURL:   c.cfg.Endpoints.AuthURL,
			TokenURL:  c.cfg.Endpoints.TokenURL,
			AuthStyle: oauth2.AuthStyleInHeader,
		},
		RedirectURL: redirectURL,
		Scopes:      Spec.Scopes,
	}
}

// AuthCodeOptions implements connectors.Authorizer: Slack reads bot scopes
// comma-separated from scope (oauth2 would join them with spaces). No
// user_scope is requested: the connector only uses the bot token.
func (c *Connector) AuthCodeOptions() []oauth2.AuthCodeOption {
	return []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("scope", strings.Join(Spec.Scopes, ","))}
}

// Exchange implements connectors.Exchanger. oauth.v2.access answers HTTP
// 200 with ok:false on failure, which x/oauth2 would take for a token
// without access_token; here invalid_code becomes ErrUnauthorized and
// bad_client_secret, invalid_client_id... ErrInvalidConfig.
func (c *Connector) Exchange(ctx context.Context, req connectors.ExchangeRequest) (*oauth2.Token, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {req.Code}}
	if req.RedirectURL != "" {
		form.Set("redirect_uri", req.RedirectURL)
	}
	if req.Verifier != "" {
		form.Set("code_verifier", req.Verifier)
	}
	ans, err := c.tokenCall(ctx, "code exchange", form)
	if err != nil {
		return nil, err
	}
	return tokenFrom(ans, time.Now(), "")
}

// Refresh implements connectors.Refresher (token rotation only). Each
// refresh returns a new xoxe-1- refresh token and revokes the old one.
func (c *Connector) Refresh(ctx context.Context, _ connectors.Account, refreshToken string) (*oauth2.Token, error) {
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	ans, err := c.tokenCall(ctx, "refresh", form)
	if err != nil {
		return nil, err
	}
	return tokenFrom(ans, time.Now(), refreshToken)
}

// tokenCall posts a grant to oauth.v2.access with the client credentials.
func (c *Connector) tokenCall(ctx context.Context, op string, form url.Values) (*slackapi.OAuthV2Response, error) {
	if !c.cfg.Configured() {
		return nil, fmt.Errorf("slack: oauth.v2.access %s: %w: POBLYSH_SLACK_CLIENT_ID and POBLYSH_SLACK_CLIENT_SECRET must be set", op, connectors.ErrInvalidConfig)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoints.TokenURL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("slack: oauth.v2.access %s: %w", op, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(c.cfg.ClientID, c.cfg.ClientSecret)
	var ans slackapi.OAuthV2Response
	if err := post(ctx, req, &ans); err != nil {
		return nil, mapError("oauth.v2.access "+op, err)
	}
	if !ans.Ok {
		return nil, mapError("oauth.v2.access "+op, apiError(ans.Error, nil))
	}
	if ans.AccessToken == "" {
		return nil, fmt.Errorf("slack: oauth.v2.access %s: %w: answer carries no access_token", op, connectors.ErrTransient)
	}
	return &ans, nil
}

// post sends req with the client the engine put in ctx (oauth2.HTTPClient)
// and decodes the JSON answer into out. Slack's ok:false answers become
// neutral errors.
func post(ctx context.Context, req *http.Request, out any) error {
	hc, _ := ctx.Value(oauth2.HTTPClient).(*http.Client)
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if err := classifyResponse(resp); err != nil {
		return err
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
		return fmt.Errorf("%w: decoding answer: %v", connectors.ErrTransient, err)
	}
	return nil
}

// tokenFrom builds the stored token. Extra carries the non-secret install
// facts (team, bot_user_id, app_id, authed_user.id...) so Identify needs no
// call; Slack's token_type "bot" is kept there while TokenType stays Bearer,
// the scheme the API expects. Without rotation there is no expires_in and
// the token has no expiry.
func tokenFrom(ans *slackapi.OAuthV2Response, now time.Time, prevRefresh string) (*oauth2.Token, error) {
	tok := &oauth2.Token{AccessToken: ans.AccessToken, TokenType: "Bearer", RefreshToken: ans.RefreshToken}
	if tok.RefreshToken == "" {
		tok.RefreshToken = prevRefresh
	}
	if ans.ExpiresIn > 0 {
		tok.ExpiresIn = int64(ans.ExpiresIn)
		tok.Expiry = now.Add(time.Duration(ans.ExpiresIn) * time.Second)
	}
	var team any // null for an org-wide install, as Slack sends it
	if ans.Team.ID != "" {
		team = map[string]any{"id": ans.Team.ID, "name": ans.Team.Name}
	}
	extra := map[string]any{
		"team":                  team,
		"team_id":               ans.Team.ID,
		"team_name":             ans.Team.Name,
		"bot_user_id":           ans.BotUserID,
		"app_id":                ans.AppID,
		"scope":                 ans.Scope,
		"token_type":            ans.TokenType,
		"authed_user":           map[string]any{"id": ans.AuthedUser.ID},
		"authed_user_id":        ans.AuthedUser.ID,
		"is_enterprise_install": ans.IsEnterpriseInstall,
		"enterprise":            nil,
	}
	if ans.Enterprise.ID != "" {
		extra["enterprise"] = map[string]any{"id": ans.Enterprise.ID, "name": ans.Enterprise.Name}
	}
	return tok.WithExtra(extra), nil
}

// extraString reads a string from the token extras: key, or key.sub in a
// nested object ("team.id").
func extraString(tok *oauth2.Token, key string) string {
	top, sub, nested := strings.Cut(key, ".")
	v := tok.Extra(top)
	if nested {
		switch m := v.(type) {
		case map[string]any:
			v = m[sub]
		case map[string]string:
			v = m[sub]
		default:
			v = nil
		}
	}
	s, _ := v.(string)
	return s
}

// Metadata keys of an org-wide (Enterprise Grid) install's account.
const (
	metaEnterpriseID      = "enterprise_id"
	metaEnterpriseInstall = "enterprise_install"
)

// orgInstall reports whether an account is an org-wide install: its ID is
// the enterprise id and its token reaches every workspace the org granted.
func orgInstall(acct connectors.Account) bool { return acct.Metadata[metaEnterpriseInstall] == "true" }

var _ connectors.AccountClaimer = (*Connector)(nil)

// ClaimAccount implements connectors.AccountClaimer. A workspace install
// inside an Enterprise Grid org (its enterprise_id set) is within the org:
// the org-wide install reaches that workspace, and any the org grants it
// later, so no other tenant may hold the org while this one holds the
// workspace, nor the other way round. Two workspaces of one org are two
// accounts, held by two tenants if they like. An org-wide install is the
// org (its enterprise id), which its workspaces' claims are within.
func (c *Connector) ClaimAccount(acct connectors.Account) connectors.AccountClaim {
	claim := connectors.AccountClaim{Keys: []string{acct.ID}}
	if org := acct.Metadata[metaEnterpriseID]; org != "" && !orgInstall(acct) {
		claim.Within = []string{org}
	}
	return claim
}

// Identify implements connectors.Authorizer. The account is what the bot
// token is bound to and what its events are delivered for: the workspace
// (team id), or for an org-wide install of an Enterprise Grid org, where
// oauth.v2.access answers "team": null and an enterprise object
// (https://api.slack.com/enterprise/apps/reference), the org (enterprise
// id), which is stable whichever workspaces the org later grants. The token
// from Exchange carries it; otherwise auth.test (one Tier 4 call) reads it,
// with the workspace domain for permalinks.
func (c *Connector) Identify(ctx context.Context, tok *oauth2.Token, client *http.Client) (connectors.Account, error) {
	meta := map[string]string{}
	for k, v := range map[string]string{
		"bot_user_id":    extraString(tok, "bot_user_id"),
		"app_id":         extraString(tok, "app_id"),
		"authed_user_id": firstNonEmpty(extraString(tok, "authed_user.id"), extraString(tok, "authed_user_id")),
		metaEnterpriseID: extraString(tok, "enterprise.id"),
	} {
		if v != "" {
			meta[k] = v
		}
	}
	if org, _ := tok.Extra("is_enterprise_install").(bool); org && meta[metaEnterpriseID] != "" {
		meta[metaEnterpriseInstall] = "true"
		return connectors.Account{ID: meta[metaEnterpriseID], Name: extraString(tok, "enterprise.name"), Metadata: meta}, nil
	}
	if id := firstNonEmpty(extraString(tok, "team.id"), extraString(tok, "team_id")); id != "" {
		return connectors.Account{ID: id, Name: firstNonEmpty(extraString(tok, "team.name"), extraString(tok, "team_name")), Metadata: meta}, nil
	}
	var at struct {
		URL                 string `json:"url"`
		Team                string `json:"team"`
		TeamID              string `json:"team_id"`
		UserID              string `json:"user_id"`
		BotID               string `json:"bot_id"`
		EnterpriseID        string `json:"enterprise_id"`
		IsEnterpriseInstall bool   `json:"is_enterprise_install"`
	}
	if err := c.call(ctx, client, "auth.test", url.Values{}, &at); err != nil {
		return connectors.Account{}, err
	}
	meta = map[string]string{"bot_user_id": at.UserID}
	if at.BotID != "" {
		meta["bot_id"] = at.BotID
	}
	if at.EnterpriseID != "" {
		meta[metaEnterpriseID] = at.EnterpriseID
	}
	if at.IsEnterpriseInstall && at.EnterpriseID != "" {
		meta[metaEnterpriseInstall] = "true"
		return connectors.Account{ID: at.EnterpriseID, Name: at.Team, Metadata: meta}, nil
	}
	if u, err := url.Parse(at.URL); err == nil && u.Host != "" {
		meta["domain"] = u.Host
	}
	return connectors.Account{ID: at.TeamID, Name: at.Team, Metadata: meta}, nil
}

func firstNonEmpty(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// Revoke implements connectors.Revoker with auth.revoke. A token Slack
// already refuses (revoked, invalid, deactivated workspace) counts as
// revoked.
func (c *Connector) Revoke(ctx context.Context, _ connectors.Account, tok *oauth2.Token) error {
	if tok == nil || tok.AccessToken == "" || c.cfg.Endpoints.RevokeURL == "" {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.Endpoints.RevokeURL, strings.NewReader(""))
	if err != nil {
		return fmt.Errorf("slack: auth.revoke: %w", err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var ans slackapi.AuthRevokeResponse
	err = post(ctx, req, &ans)
	switch slackCode(err) {
	case "invalid_auth", "token_revoked", "account_inactive":
		return nil
	}
	if err != nil {
		return mapError("auth.revoke", err)
	}
	if !ans.Ok {
		return mapError("auth.revoke", apiError(ans.Error, nil))
	}
	return nil
}
