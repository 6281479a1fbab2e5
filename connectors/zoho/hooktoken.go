package zoho

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"regexp"
	"strings"
)

// Per-connection URL tokens. A Cliq bot and a Zoho Mail outgoing webhook
// are configured by hand with a URL; both post to the contract path
// POST /api/v1/webhooks/{provider}, so the connection is named by a query
// parameter:
//
//	?token=<tenant id>.<account id>.<mac>
//
// mac is HMAC-SHA256, keyed with the product's webhook secret, over the
// product, the tenant, the account and a binding (Cliq: the organisation
// id, which every bot call carries in params.access.organization; Mail:
// nothing). So the token is unguessable, is checked without any lookup
// (a forged one is refused before anything is parsed or stored), and a
// token copied into another Zoho organisation's bot fails the binding.
// Nothing about it is stored: the service derives it again when it shows
// the URL, and routes by "<tenant>:<account>" keys that name no secret.
// Rotating the webhook secret changes every URL.

// TokenParam is the query parameter that carries the token.
const TokenParam = "token"

var (
	tenantPattern  = regexp.MustCompile(`^[0-9a-fA-F-]{8,64}$`)
	accountPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
)

func hookMAC(secret, provider, tenantID, accountID, binding string) string {
	m := hmac.New(sha256.New, []byte(secret))
	for _, part := range []string{"poblysh-zoho-hook/v1", provider, tenantID, accountID, binding} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// HookToken is the URL token of one connection ("" when secret is empty:
// without a webhook secret no URL is issued and every delivery is refused).
func HookToken(secret, provider, tenantID, accountID, binding string) string {
	if secret == "" || !tenantPattern.MatchString(tenantID) || !accountPattern.MatchString(accountID) {
		return ""
	}
	return tenantID + "." + accountID + "." + hookMAC(secret, provider, tenantID, accountID, binding)
}

// ParseHookToken splits a token into its tenant and account ids, without
// checking it.
func ParseHookToken(tok string) (tenantID, accountID string, ok bool) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || !tenantPattern.MatchString(parts[0]) || !accountPattern.MatchString(parts[1]) || parts[2] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}

// CheckHookToken reports, in constant time for well-formed tokens, whether
// tok is the token of its tenant and account for this binding.
func CheckHookToken(secret, provider, tok, binding string) (tenantID, accountID string, ok bool) {
	if secret == "" {
		return "", "", false
	}
	tenantID, accountID, ok = ParseHookToken(tok)
	if !ok {
		return "", "", false
	}
	want := HookToken(secret, provider, tenantID, accountID, binding)
	if !hmac.Equal([]byte(want), []byte(tok)) {
		return "", "", false
	}
	return tenantID, accountID, true
}

// ConnectionKey is the route key part that names one connection: a tenant
// connects an account once (a re-connect updates the same connection), so
// (tenant, account) is the connection, known even before it is stored.
func ConnectionKey(tenantID, accountID string) string { return tenantID + ":" + accountID }
