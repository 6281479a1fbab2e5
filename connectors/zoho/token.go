package zoho

import (
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

// tokenAnswer is the token endpoint's JSON: a token, or (with HTTP 200)
// an error. Zoho has answered expires_in in seconds, and in older answers
// expires_in_sec; both are read.
type tokenAnswer struct {
	AccessToken  string          `json:"access_token"`
	RefreshToken string          `json:"refresh_token"`
	APIDomain    string          `json:"api_domain"`
	TokenType    string          `json:"token_type"`
	ExpiresIn    json.Number     `json:"expires_in"`
	ExpiresInSec json.Number     `json:"expires_in_sec"`
	Scope        string          `json:"scope"`
	Error        string          `json:"error"`
	Description  string          `json:"error_description"`
	Status       json.RawMessage `json:"status"`
}

// Exchange implements connectors.Exchanger: the code is redeemed at the
// accounts server the callback named (after the allowlist check) with that
// DC's client secret and the connect's PKCE verifier, which binds the code
// to the connect that asked for it: a code replayed under another state is
// refused. The token carries the DC facts for Identify.
func (a *Auth) Exchange(ctx context.Context, req connectors.ExchangeRequest) (*oauth2.Token, error) {
	dc, err := a.callbackDC(req.Callback)
	if err != nil {
		return nil, err
	}
	form := url.Values{
		"grant_type":   {"authorization_code"},
		"code":         {req.Code},
		"redirect_uri": {req.RedirectURL},
	}
	if req.Verifier != "" {
		// https://www.zoho.com/accounts/protocol/oauth/mobile-and-desktop-apps/get-access-token.html
		form.Set("code_verifier", req.Verifier)
	}
	ans, err := a.tokenCall(ctx, dc, "code exchange", form)
	if err != nil {
		return nil, err
	}
	tok, err := tokenFrom(ans, time.Now(), "")
	if err != nil {
		return nil, fmt.Errorf("%s: code exchange: %w", a.provider, err)
	}
	return tok.WithExtra(map[string]any{
		MetaLocation: dc.Location, MetaAccountsServer: dc.Accounts, MetaAPIDomain: ans.APIDomain, "scope": ans.Scope,
	}), nil
}

// Refresh implements connectors.Refresher at the account's own accounts
// server. Zoho does not rotate refresh tokens: the answer has none and the
// spent one stays. The engine refreshes only when a call needs a fresh
// token (one writer per connection); the budget below keeps this process
// under Zoho's 10 access tokens per 10 minutes per refresh token even if
// something goes wrong upstream.
func (a *Auth) Refresh(ctx context.Context, acct connectors.Account, refreshToken string) (*oauth2.Token, error) {
	dc, err := a.AccountDC(acct)
	if err != nil {
		return nil, err
	}
	if err := a.budget.take(refreshToken); err != nil {
		return nil, fmt.Errorf("%s: refresh: %w", a.provider, err)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	ans, err := a.tokenCall(ctx, dc, "refresh", form)
	if err != nil {
		return nil, err
	}
	return tokenFrom(ans, time.Now(), refreshToken)
}

// Revoke implements connectors.Revoker: POST
// {accounts server}/oauth/v2/token/revoke?token=<refresh token>
// (https://www.zoho.com/accounts/protocol/oauth/web-apps/revoke-token.html).
// Revoking the refresh token also frees one of the user's 20 per client.
// An account without DC facts is a connect that failed before Identify
// named it (Spec.RevokeUnusedGrant): the token's own, which Exchange put
// there, are used, checked against the allowlist the same way.
func (a *Auth) Revoke(ctx context.Context, acct connectors.Account, tok *oauth2.Token) error {
	if tok == nil {
		return nil
	}
	t := tok.RefreshToken
	if t == "" {
		t = tok.AccessToken
	}
	if t == "" {
		return nil
	}
	if acct.Metadata[MetaAccountsServer] == "" && acct.Metadata[MetaLocation] == "" {
		acct = AccountFromToken(tok)
	}
	dc, err := a.AccountDC(acct)
	if err != nil {
		return err
	}
	u := dc.Accounts + "/oauth/v2/token/revoke?" + url.Values{"token": {t}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return fmt.Errorf("%s: revoke: %v", a.provider, redact(err))
	}
	resp, err := httpClient(ctx).Do(req)
	if err != nil {
		return fmt.Errorf("%s: revoke: %w: %s", a.provider, connectors.ErrTransient, netReason(ctx, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode >= 500 {
		return fmt.Errorf("%s: revoke: %w: HTTP %d", a.provider, connectors.ErrTransient, resp.StatusCode)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		return fmt.Errorf("%s: revoke: %w: HTTP 429", a.provider, connectors.ErrRateLimited)
	}
	var ans tokenAnswer
	_ = json.Unmarshal(body, &ans)
	switch {
	case ans.Error != "" && strings.Contains(strings.ToLower(ans.Error), "invalid"):
		return nil // already unknown to Zoho
	case ans.Error != "":
		// The answer's text can echo the request, whose query is the token.
		return fmt.Errorf("%s: revoke: %w", a.provider,
			classifyTokenError(connectors.RedactText(ans.Error, t), connectors.RedactText(ans.Description, t)))
	case resp.StatusCode >= 300:
		// Not a revocation: a refused token is still one of the user's 20.
		return fmt.Errorf("%s: revoke: %w: HTTP %d", a.provider, connectors.ErrTransient, resp.StatusCode)
	}
	return nil
}

// tokenCall posts a grant to {dc}/oauth/v2/token with the client
// credentials in the form, and turns Zoho's HTTP 200 error answers into
// neutral errors. Only Zoho's own error codes (classifyTokenError) refuse
// a grant; any other failure is transient.
func (a *Auth) tokenCall(ctx context.Context, dc DC, op string, form url.Values) (*tokenAnswer, error) {
	if !a.cfg.Configured() {
		env := "POBLYSH_" + strings.ToUpper(strings.ReplaceAll(a.provider, "-", "_"))
		return nil, fmt.Errorf("%s: %s: %w: %s_CLIENT_ID and %s_CLIENT_SECRET (or POBLYSH_ZOHO_*) must be set", a.provider, op,
			connectors.ErrInvalidConfig, env, env)
	}
	form.Set("client_id", a.cfg.ClientID)
	form.Set("client_secret", a.clientSecret(dc.Location))
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dc.Accounts+"/oauth/v2/token", strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %v", a.provider, op, redact(err))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := httpClient(ctx).Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %s at %s: %w: %s", a.provider, op, dc.Location, connectors.ErrTransient, netReason(ctx, err))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var ans tokenAnswer
	decErr := json.Unmarshal(body, &ans)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		d, _ := connectors.RateLimitDelay(resp.Header, time.Now())
		return nil, fmt.Errorf("%s: %s: %w", a.provider, op, &connectors.RateLimited{RetryAfter: d, Reason: "token endpoint"})
	case resp.StatusCode < 500 && ans.Error != "":
		// The answer's text can echo the form: its secrets (the data
		// centre's own client secret, which the engine does not know,
		// among them) are cut out before classifyTokenError shortens it.
		secrets := []string{form.Get("client_secret"), form.Get("code"), form.Get("code_verifier"), form.Get("refresh_token")}
		err := classifyTokenError(connectors.RedactText(ans.Error, secrets...), connectors.RedactText(ans.Description, secrets...))
		if connectors.Kind(err) == connectors.ErrRateLimited {
			// The throttle comes as HTTP 200 with "Access Denied" in the
			// body: no transport classifier sees it, so it is counted here.
			connectors.CountRateLimited(a.provider)
		}
		return nil, fmt.Errorf("%s: %s at %s: %w", a.provider, op, dc.Location, err)
	case resp.StatusCode >= 400:
		// Zoho answers its errors with an error field (with HTTP 200;
		// above). An answer without one, or a 5xx, is not Zoho's word on
		// the grant: a proxy's or WAF's 403 page, a misrouted 404, a 408.
		// Read as a refusal, it moved a healthy grant to needs_reauth and
		// out of the keep-alive; transient, the refresh is tried again.
		if d, ok := connectors.RateLimitDelay(resp.Header, time.Now()); ok {
			return nil, fmt.Errorf("%s: %s at %s: %w", a.provider, op, dc.Location,
				&connectors.RateLimited{RetryAfter: d, Reason: fmt.Sprintf("token endpoint HTTP %d", resp.StatusCode)})
		}
		return nil, fmt.Errorf("%s: %s at %s: %w: token endpoint HTTP %d", a.provider, op, dc.Location, connectors.ErrTransient, resp.StatusCode)
	case decErr != nil || ans.AccessToken == "":
		return nil, fmt.Errorf("%s: %s at %s: %w: the answer carries no access_token", a.provider, op, dc.Location, connectors.ErrTransient)
	}
	return &ans, nil
}

// classifyTokenError maps Zoho's token errors. invalid_code is Zoho's
// answer to a spent or expired code and to a revoked or unknown refresh
// token alike: the user must connect again. Client problems are
// configuration. "Access Denied … too many requests" is the access-token
// throttle (10 per 10 minutes per refresh token): wait for the window.
func classifyTokenError(code, desc string) error {
	msg := trunc(code, 64)
	if desc != "" {
		msg += ": " + trunc(desc, 200)
	}
	lc := strings.ToLower(code)
	switch lc {
	case "invalid_code", "invalid_grant", "invalid_token", "invalid_refresh_token", "token_revoked":
		return fmt.Errorf("%w: %s", connectors.ErrUnauthorized, msg)
	case "invalid_client", "invalid_client_secret", "unauthorized_client", "invalid_redirect_uri", "redirect_uri_mismatch",
		"invalid_scope", "invalid_oauthscope", "unsupported_grant_type":
		return fmt.Errorf("%w: %s", connectors.ErrInvalidConfig, msg)
	}
	if strings.Contains(lc, "access denied") || lc == "access_denied" {
		if strings.Contains(strings.ToLower(desc), "too many") {
			return &connectors.RateLimited{RetryAfter: budgetWindow, Reason: "Zoho access-token limit: " + msg}
		}
		return fmt.Errorf("%w: %s", connectors.ErrUnauthorized, msg)
	}
	return fmt.Errorf("%w: token endpoint answered %s", connectors.ErrTransient, msg)
}

// tokenFrom builds the stored token; Zoho access tokens last an hour.
func tokenFrom(ans *tokenAnswer, now time.Time, prevRefresh string) (*oauth2.Token, error) {
	tok := &oauth2.Token{AccessToken: ans.AccessToken, RefreshToken: ans.RefreshToken, TokenType: "Bearer"}
	if tok.RefreshToken == "" {
		tok.RefreshToken = prevRefresh
	}
	secs := int64(0)
	for _, n := range []json.Number{ans.ExpiresIn, ans.ExpiresInSec} {
		if v, err := strconv.ParseInt(n.String(), 10, 64); err == nil && v > 0 {
			secs = v
			break
		}
	}
	if secs == 0 {
		secs = 3600
	}
	if secs > 100_000 { // milliseconds (some Zoho answers): an hour is 3 600 000
		secs /= 1000
	}
	tok.ExpiresIn = secs
	tok.Expiry = now.Add(time.Duration(secs) * time.Second)
	return tok, nil
}

// redact drops a *url.Error's URL (it may carry a token in the query).
func redact(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// netReason describes a transport failure without its URL.
func netReason(ctx context.Context, err error) string {
	if ctx.Err() != nil {
		return ctx.Err().Error()
	}
	var ne interface{ Timeout() bool }
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "network error"
}
