package zohocliq

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/zoho"
)

// Account metadata keys of a Cliq connection (besides the DC facts of
// connectors/zoho).
const (
	metaOrgID   = "org_id"
	metaOrgName = "org_name"
	metaEmail   = "email"
)

// Identify implements connectors.Authorizer. The account is the Zoho user
// (ZUID, from Zoho Accounts' user/info in the user's DC): mentions and
// channel membership are the user's. The user's Cliq organisation comes
// from GET /api/v2/users/{zuid} (organization_id); bot calls must name the
// same organisation. A user whose organisation cannot be read is still
// connected (polling works) but has no bot URL.
func (c *Connector) Identify(ctx context.Context, tok *oauth2.Token, hc *http.Client) (connectors.Account, error) {
	acct := zoho.AccountFromToken(tok)
	ui, err := c.UserInfo(ctx, hc, acct)
	if err != nil {
		return connectors.Account{}, err
	}
	acct.ID, acct.Name = ui.ZUID.String(), ui.Name()
	if ui.Email != "" {
		acct.Metadata[metaEmail] = ui.Email
	}
	var ans struct {
		Data struct {
			OrganizationID   zoho.Str `json:"organization_id"`
			OrgID            zoho.Str `json:"org_id"`
			ZOID             zoho.Str `json:"zoid"`
			OrganizationName string   `json:"organization_name"`
		} `json:"data"`
	}
	err = c.get(ctx, hc, acct, apiUsers, "/api/v2/users/"+url.PathEscape(acct.ID), nil, &ans)
	switch k := connectors.Kind(err); {
	case err == nil:
		for _, v := range []zoho.Str{ans.Data.OrganizationID, ans.Data.OrgID, ans.Data.ZOID} {
			if v != "" {
				acct.Metadata[metaOrgID] = v.String()
				break
			}
		}
		if ans.Data.OrganizationName != "" {
			acct.Metadata[metaOrgName] = ans.Data.OrganizationName
		}
	case k == connectors.ErrForbidden || k == connectors.ErrNotFound:
		// No organisation: no bot URL. Polling needs none.
	default:
		return connectors.Account{}, err
	}
	return acct, nil
}

// ConnectionWebhookURL implements connectors.WebhookURLer: the bot's
// execution URL for this connection,
// <public URL>/api/v1/webhooks/zoho-cliq?token=<tenant>.<zuid>.<mac>, the
// mac binding the user's organisation. "" without a webhook secret or a
// known organisation.
func (c *Connector) ConnectionWebhookURL(conn connectors.Connection) string {
	tok := zoho.HookToken(c.cfg.WebhookSecret, Name, conn.TenantID, conn.Account.ID, conn.Account.Metadata[metaOrgID])
	if tok == "" || conn.Account.Metadata[metaOrgID] == "" {
		return ""
	}
	return c.cfg.WebhookURL(Name) + "?" + url.Values{zoho.TokenParam: {tok}}.Encode()
}

// webHost is the Cliq host of the account's DC, for links people open.
func (c *Connector) webHost(acct connectors.Account) string {
	base, err := c.APIBase(acct)
	if err != nil {
		return ""
	}
	return strings.TrimRight(base, "/")
}

// permalink links a chat (Cliq documents no per-message link; the
// message id is in the Signal's subject).
func permalink(host, chat string) string {
	if host == "" || chat == "" {
		return ""
	}
	return fmt.Sprintf("%s/chats/%s", host, url.PathEscape(chat))
}
