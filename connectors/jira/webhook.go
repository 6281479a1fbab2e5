package jira

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/poblysh/poblysh/connectors"
)

var _ connectors.WebhookReceiver = (*Connector)(nil)

// jwtLeeway absorbs clock skew between Atlassian and us on exp/iat/nbf.
const jwtLeeway = 30 * time.Second

// jwtMaxAge bounds the age of a token without exp (by its iat): its
// replay is then bounded as an exp would bound it.
const jwtMaxAge = 5 * time.Minute

// VerifyWebhook checks the Authorization: Bearer <JWT> that Jira puts on
// deliveries of an OAuth 2.0 app's dynamic webhooks: HS256 only (alg none,
// RS*/ES* and anything else are refused), signed with the app's client
// secret, and an exp that has not passed. Atlassian does not document the
// claims (the provider notes: verify exp only if present), so a token
// without exp is accepted when its iat is at most jwtMaxAge old, and one
// with neither is refused: nothing would bound its replay. iat and nbf
// are checked when present; nothing else in the claims is relied on. It
// fails closed without a client secret. The JWT does not cover the body:
// see docs/providers/jira.md.
func (c *Connector) VerifyWebhook(req *connectors.WebhookRequest) error {
	if c.cfg.ClientSecret == "" {
		return fmt.Errorf("jira: webhook: %w: POBLYSH_JIRA_CLIENT_SECRET is not set", connectors.ErrUnauthorized)
	}
	raw, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	if !ok || strings.TrimSpace(raw) == "" {
		return fmt.Errorf("jira: webhook: %w: no bearer JWT", connectors.ErrUnauthorized)
	}
	now := req.Now
	if now.IsZero() {
		now = time.Now()
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(func() time.Time { return now }),
	)
	secret := []byte(c.cfg.ClientSecret)
	claims := jwt.MapClaims{}
	_, err := parser.ParseWithClaims(strings.TrimSpace(raw), claims, func(t *jwt.Token) (any, error) {
		if t.Method != jwt.SigningMethodHS256 {
			return nil, errors.New("unexpected signing method")
		}
		return secret, nil
	})
	if err != nil {
		return fmt.Errorf("jira: webhook: %w: JWT rejected: %v", connectors.ErrUnauthorized, err)
	}
	if exp, _ := claims.GetExpirationTime(); exp != nil {
		return nil // checked by the parser
	}
	iat, _ := claims.GetIssuedAt()
	if iat == nil {
		return fmt.Errorf("jira: webhook: %w: JWT rejected: neither exp nor iat bounds its replay", connectors.ErrUnauthorized)
	}
	if age := now.Sub(iat.Time); age > jwtMaxAge+jwtLeeway {
		return fmt.Errorf("jira: webhook: %w: JWT rejected: without exp, issued %s ago (at most %s)",
			connectors.ErrUnauthorized, age.Round(time.Second), jwtMaxAge)
	}
	return nil
}

// webhookBody is a delivery of an issue event (REST v2 representation).
type webhookBody struct {
	Timestamp          epochMillis     `json:"timestamp"`
	WebhookEvent       string          `json:"webhookEvent"`
	IssueEventTypeName string          `json:"issue_event_type_name"`
	User               *user           `json:"user"`
	Issue              *issue          `json:"issue"`
	Changelog          *history        `json:"changelog"`
	MatchedWebhookIDs  []json.Number   `json:"matchedWebhookIds"`
	Comment            json.RawMessage `json:"comment"`
}

type selfOnly struct {
	Self string `json:"self"`
}

// errMalformed marks deliveries that verify but cannot be read.
var errMalformed = errors.New("jira: malformed webhook delivery")

// commentOnly are issue event types that change no tracked field.
var commentOnly = map[string]bool{
	"issue_commented": true, "issue_comment_edited": true, "issue_comment_deleted": true,
	"issue_worklog_updated": true, "issue_worklog_deleted": true, "issue_work_logged": true,
}

// ParseWebhook turns a verified delivery into Signals. The site is the
// host of the issue's (or actor's) self link, the only place a body names
// it; every Signal's dedupe key begins with it, as a search of the
// connection's site keys the same happening (normalizer.key); DeliveryID
// is that host plus X-Atlassian-Webhook-Identifier (unique per site,
// stable across Atlassian's retries); RouteKeys pair the host with each
// of matchedWebhookIds ("hook:<host>/<id>"), so a delivery
// reaches only the connections whose own token registered those webhooks
// on that site (their watch channels carry the same keys). A host names a
// site only while the site has that URL: Atlassian gives a former URL to
// another site, and a connection that has not read its site's new URL yet
// keeps keys naming it, which the other site's webhook ids (numbered per
// site) meet; nothing in a delivery names the cloud id, so the intake
// stores a delivery reaching connections of two sites for neither
// (Spec.RouteKeysNameOneAccount). Event is webhookEvent plus
// issue_event_type_name.
//
// jira:issue_created yields issue.created (its changelog holds the initial
// values and is ignored); jira:issue_updated yields what its changelog
// holds (normalizer.changes), or, without a changelog, an issue.updated
// keyed by the issue's updated time unless the event is only a comment or
// worklog; every other event (deletions included) yields nothing.
func (c *Connector) ParseWebhook(req *connectors.WebhookRequest) (*connectors.WebhookDelivery, error) {
	ident := strings.TrimSpace(req.Header.Get("X-Atlassian-Webhook-Identifier"))
	if ident == "" {
		return nil, fmt.Errorf("%w: missing X-Atlassian-Webhook-Identifier", errMalformed)
	}
	var b webhookBody
	if err := json.Unmarshal(req.Body, &b); err != nil {
		return nil, fmt.Errorf("%w: %v", errMalformed, err)
	}
	host := ""
	if b.Issue != nil {
		host = selfHost(b.Issue.Self)
		if host == "" && b.Issue.Fields.Project != nil {
			host = projectSelfHost(req.Body)
		}
	}
	if host == "" && b.User != nil {
		host = selfHost(b.User.Self)
	}
	if host == "" {
		return nil, fmt.Errorf("%w: %s %s: no self link names the site", errMalformed, b.WebhookEvent, ident)
	}
	d := &connectors.WebhookDelivery{DeliveryID: host + "/" + ident, Event: b.WebhookEvent}
	if b.IssueEventTypeName != "" {
		d.Event += "." + b.IssueEventTypeName
	}
	for _, id := range b.MatchedWebhookIDs {
		if n, err := strconv.ParseInt(id.String(), 10, 64); err == nil && n > 0 {
			d.RouteKeys = append(d.RouteKeys, hookRouteKey(host, strconv.FormatInt(n, 10)))
		}
	}
	if b.Issue == nil || b.Issue.ID == "" || b.Issue.Key == "" {
		return d, nil
	}
	n := normalizer{siteURL: "https://" + host, host: host}
	at := time.UnixMilli(int64(b.Timestamp)).UTC()
	if b.Timestamp == 0 {
		at = b.Issue.Fields.Updated.Time
	}
	body := json.RawMessage(req.Body)
	switch b.WebhookEvent {
	case "jira:issue_created":
		if s, ok := n.created(b.Issue, b.User, body); ok {
			d.Signals = append(d.Signals, s)
		}
	case "jira:issue_updated":
		switch {
		case b.Changelog != nil && len(b.Changelog.Items) > 0:
			d.Signals = n.changes(b.Issue, *b.Changelog, at, b.User, body)
		case !commentOnly[b.IssueEventTypeName] && len(b.Comment) == 0:
			if s, ok := n.updatedWithoutChangelog(b.Issue, b.User, body); ok {
				d.Signals = append(d.Signals, s)
			}
		}
	}
	return d, nil
}

// selfHost is the lowercase host of a REST self link on a site
// ("https://acme.atlassian.net/rest/api/2/issue/10001"); "" for links on
// the API gateway, which name no site host.
func selfHost(self string) string {
	u, err := url.Parse(self)
	if err != nil || u.Host == "" || !strings.Contains(u.Path, "/rest/") || strings.HasPrefix(u.Path, "/ex/") {
		return ""
	}
	return strings.ToLower(u.Host)
}

// projectSelfHost reads issue.fields.project.self's host.
func projectSelfHost(body []byte) string {
	var v struct {
		Issue struct {
			Fields struct {
				Project selfOnly `json:"project"`
			} `json:"fields"`
		} `json:"issue"`
	}
	if json.Unmarshal(body, &v) != nil {
		return ""
	}
	return selfHost(v.Issue.Fields.Project.Self)
}

// hookRouteKey is the route key of one dynamic webhook: webhook ids are
// numbered per site, so the site's host is part of it.
func hookRouteKey(host, webhookID string) string { return "hook:" + host + "/" + webhookID }
