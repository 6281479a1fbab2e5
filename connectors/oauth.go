package connectors

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/metrics"
)

// ClassifyOAuthError maps an error from the token endpoint (code exchange or
// refresh) to a neutral error: invalid_grant → ErrUnauthorized (the grant is
// revoked or expired; the user must reconnect); invalid_client and
// unauthorized_client → ErrInvalidConfig; 429 → rate limited; 5xx and
// network failures → transient. The provider's error code and
// error_description are kept, shortened (they are the provider's text, of
// any length); should they echo the request, the Registry's Exchange,
// Refresh and Revoke cut its secrets out of the message.
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
		desc := clip(re.ErrorCode, maxErrorCode)
		if re.ErrorDescription != "" {
			desc += ": " + clip(re.ErrorDescription, maxErrorText)
		}
		switch re.ErrorCode {
		case "invalid_grant", "bad_refresh_token", "bad_verification_code", "invalid_code", "token_revoked", "invalid_refresh_token":
			return fmt.Errorf("%w: %s", ErrUnauthorized, desc)
		case "invalid_client", "unauthorized_client", "incorrect_client_credentials", "invalid_client_id", "bad_client_secret", "redirect_uri_mismatch":
			return fmt.Errorf("%w: %s", ErrInvalidConfig, desc)
		}
		switch {
		case status == http.StatusTooManyRequests:
			d, _ := RateLimitDelay(re.Response.Header, time.Now())
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
	// A garbage answer (tokenTransport) without the *url.Error around it:
	// its message says what came back, the URL adds nothing.
	var ue *url.Error
	if errors.As(err, &ue) && errors.Is(ue.Err, ErrTransient) {
		return ue.Err
	}
	if k := Kind(err); k != ErrTransient || errors.Is(err, ErrTransient) {
		return err
	}
	// x/oauth2's own words about an answer it could not use ("server
	// response missing access_token", "cannot parse json: invalid
	// character…") quote no token; say them rather than "network error".
	if msg, ok := strings.CutPrefix(err.Error(), "oauth2: "); ok {
		return fmt.Errorf("%w: token endpoint: %s", ErrTransient, msg)
	}
	return fmt.Errorf("%w: token endpoint: %s", ErrTransient, describeNetErr(err))
}

// The longest provider error code and description kept in an error's
// message, in runes: OAuth error codes are short words, descriptions a
// sentence or two.
const (
	maxErrorCode = 64
	maxErrorText = 200
)

// clip shortens provider-supplied text to n runes, marking the cut with "…"
// (which RedactText recognizes after a secret's first characters).
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
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

// TokenTimeout bounds one call to a provider's token endpoint.
const TokenTimeout = 30 * time.Second

// tokenClient is the HTTP client for a provider's token endpoints: no
// Authorization header and no status classification (x/oauth2 and the
// providers' exchangers read the error bodies), but every answer is counted
// in poblysh_provider_api_calls_total, and one the provider's
// classification calls a rate limit in poblysh_provider_rate_limited_total
// (the API client's Transport counts the API's; nothing else counts
// either). With check (code exchange, refresh), a success whose body
// cannot be a token answer is a transient failure counted as garbage.
func (r *Registry) tokenClient(p *Provider, check bool) *http.Client {
	return &http.Client{Timeout: TokenTimeout, Transport: &tokenTransport{base: r.base, provider: p.Spec.Name, classify: classifier(p), check: check}}
}

type tokenTransport struct {
	base     http.RoundTripper
	provider string
	classify func(*http.Response) error
	check    bool
}

func (t *tokenTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		metrics.ProviderCalls.WithLabelValues(t.provider, "error").Inc()
		return nil, err
	}
	if t.check {
		if err := checkTokenBody(resp); err != nil {
			metrics.ProviderCalls.WithLabelValues(t.provider, "garbage").Inc()
			return nil, err
		}
	}
	metrics.ProviderCalls.WithLabelValues(t.provider, strconv.Itoa(resp.StatusCode)).Inc()
	// The classification only counts (it leaves the body readable); the
	// caller reads the answer as it would without it.
	if errors.Is(t.classify(resp), ErrRateLimited) {
		metrics.RateLimitHits.WithLabelValues(t.provider).Inc()
	}
	return resp, nil
}

// checkTokenBody refuses a success from a token endpoint whose body cannot
// be a token answer: an HTML page (a proxy's, a login page), an empty body,
// or JSON that does not parse (cut off). A form-encoded answer (GitHub's
// default) passes. Without it, x/oauth2's parse error read as a "network
// error", which sends an operator to the wrong place.
func checkTokenBody(resp *http.Response) error {
	if resp.StatusCode < 200 || resp.StatusCode >= 300 || resp.Body == nil {
		return nil
	}
	ctype := strings.ToLower(resp.Header.Get("Content-Type"))
	if mt, _, err := mime.ParseMediaType(ctype); err == nil {
		ctype = mt
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_ = resp.Body.Close()
	if err != nil {
		return fmt.Errorf("%w: token endpoint: reading the answer: %s", ErrTransient, describeNetErr(err))
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	trimmed := bytes.TrimSpace(b)
	switch {
	case ctype == "text/html" || bytes.HasPrefix(trimmed, []byte("<")):
		return fmt.Errorf("%w: token endpoint: HTTP %d with an HTML page instead of a token", ErrTransient, resp.StatusCode)
	case len(trimmed) == 0:
		return fmt.Errorf("%w: token endpoint: HTTP %d with an empty body instead of a token", ErrTransient, resp.StatusCode)
	case (ctype == "application/json" || strings.HasSuffix(ctype, "+json") || bytes.HasPrefix(trimmed, []byte("{"))) && !json.Valid(trimmed):
		return fmt.Errorf("%w: token endpoint: HTTP %d with JSON that does not parse (%d bytes; truncated?)", ErrTransient, resp.StatusCode, len(b))
	}
	return nil
}

// Exchange redeems an authorization code, through the provider's Exchanger
// when it has quirks, else with x/oauth2 (PKCE verifier when given). Its
// error names neither the code, the verifier nor the client secret, even
// where the provider's answer echoed them.
func (r *Registry) Exchange(ctx context.Context, p *Provider, req ExchangeRequest) (*oauth2.Token, error) {
	tok, err := r.exchange(ctx, p, req)
	if err != nil {
		err = RedactError(err, append(clientSecrets(p), req.Code, req.Verifier)...)
	}
	return tok, err
}

func (r *Registry) exchange(ctx context.Context, p *Provider, req ExchangeRequest) (*oauth2.Token, error) {
	ctx = WithHTTPClient(ctx, r.tokenClient(p, true))
	if ex, ok := p.Connector.(Exchanger); ok {
		tok, err := ex.Exchange(ctx, req)
		return tok, ClassifyOAuthError(err)
	}
	auth, ok := p.Connector.(Authorizer)
	if !ok {
		return nil, fmt.Errorf("%w: provider %s does not support OAuth", ErrInvalidConfig, p.Spec.Name)
	}
	var opts []oauth2.AuthCodeOption
	if req.Verifier != "" {
		opts = append(opts, oauth2.VerifierOption(req.Verifier))
	}
	tok, err := auth.OAuth2Config(req.RedirectURL).Exchange(ctx, req.Code, opts...)
	return tok, ClassifyOAuthError(err)
}

// Refresh spends a refresh token for a new access token (and, for rotating
// providers, a new refresh token), through the provider's Refresher when it
// has one. Its error names neither the refresh token nor the client secret.
func (r *Registry) Refresh(ctx context.Context, p *Provider, account Account, refreshToken string) (*oauth2.Token, error) {
	tok, err := r.refresh(ctx, p, account, refreshToken)
	if err != nil {
		err = RedactError(err, append(clientSecrets(p), refreshToken)...)
	}
	return tok, err
}

func (r *Registry) refresh(ctx context.Context, p *Provider, account Account, refreshToken string) (*oauth2.Token, error) {
	ctx = WithHTTPClient(ctx, r.tokenClient(p, true))
	if rf, ok := p.Connector.(Refresher); ok {
		tok, err := rf.Refresh(ctx, account, refreshToken)
		return tok, ClassifyOAuthError(err)
	}
	auth, ok := p.Connector.(Authorizer)
	if !ok {
		return nil, fmt.Errorf("%w: provider %s does not support OAuth", ErrInvalidConfig, p.Spec.Name)
	}
	cfg := auth.OAuth2Config(p.Config.CallbackURL(p.Spec.Name))
	tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshToken, Expiry: time.Unix(1, 0)}).Token()
	return tok, ClassifyOAuthError(err)
}

// Revoke revokes a token at the provider when it supports revocation; it
// reports whether a revocation was attempted. Its error names neither
// token nor the client secret.
func (r *Registry) Revoke(ctx context.Context, p *Provider, account Account, tok *oauth2.Token) (bool, error) {
	rv, ok := p.Connector.(Revoker)
	if !ok {
		return false, nil
	}
	err := rv.Revoke(WithHTTPClient(ctx, r.tokenClient(p, false)), account, tok)
	if err == nil {
		return true, nil
	}
	secrets := clientSecrets(p)
	if tok != nil {
		secrets = append(secrets, tok.AccessToken, tok.RefreshToken)
	}
	return true, RedactError(err, secrets...)
}

// clientSecrets are the forms of p's client secret a token request may
// carry, for RedactError: the errors of Exchange, Refresh and Revoke hold
// text the provider supplied, which can echo the request it answers.
func clientSecrets(p *Provider) []string {
	return append([]string{p.Config.ClientSecret}, BasicCredential(p.Config.ClientID, p.Config.ClientSecret)...)
}
