// Package sandbox holds what every provider fake shares: an OAuth 2.0
// authorization server (codes, PKCE, expiring access tokens, rotating or
// fixed refresh tokens, revocation), fault injection (429 with Retry-After,
// 5xx bursts, timeouts), a webhook deliverer (duplicates and out-of-order
// delivery on demand), and the /_sandbox control API.
//
// Provider fakes live in sandbox/<provider> and speak that provider's wire
// format on top of these pieces; `poblysh sandbox` runs them as a process.
package sandbox
