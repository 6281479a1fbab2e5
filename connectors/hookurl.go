package connectors

// WebhookURLer is implemented by providers whose deliveries are set up by
// hand with one URL per connection (a Zoho Cliq bot's execution URL, a Zoho
// Mail outgoing webhook): the provider has no API to register a hook, and
// the contract path POST /api/v1/webhooks/{provider} cannot tell
// connections apart, so the URL carries an unguessable token of the
// connection. ConnectionWebhookURL returns that URL, "" when the connection
// has none (no webhook secret configured, or the account lacks what the
// token binds). The URL is a secret: it is shown to the connection's own
// tenant only (GET /connections/{id} "webhook_url"), never logged (the
// access log drops query strings) and never stored (it is derived).
type WebhookURLer interface {
	ConnectionWebhookURL(conn Connection) string
}
