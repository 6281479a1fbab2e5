package zohomail

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

// Account metadata keys of a Zoho Mail connection (besides the DC facts).
const (
	metaEmail = "email"
	metaZUID  = "zuid"
)

// mailAccount is an item of GET /api/accounts
// (https://www.zoho.com/mail/help/api/get-all-users-accounts.html). The
// answer marks no default account: each has a type (ZOHO_ACCOUNT for a
// Zoho mailbox, another for a POP or IMAP account added to it) and a
// sequence.
type mailAccount struct {
	AccountID           zoho.Str `json:"accountId"`
	AccountDisplayName  string   `json:"accountDisplayName"`
	DisplayName         string   `json:"displayName"`
	PrimaryEmailAddress string   `json:"primaryEmailAddress"`
	MailboxAddress      string   `json:"mailboxAddress"`
	Type                string   `json:"type"`
	Sequence            zoho.Str `json:"sequence"`
	ZUID                zoho.Str `json:"zuid"`
}

// Identify implements connectors.Authorizer: the account is the user's
// Zoho Mail account (its accountId, the id every Mail API path takes),
// read with GET /api/accounts in the user's DC. Of several accounts (POP
// or IMAP accounts added to Zoho Mail), the Zoho account is taken, the
// first in Zoho's sequence when there are several.
func (c *Connector) Identify(ctx context.Context, tok *oauth2.Token, hc *http.Client) (connectors.Account, error) {
	acct := zoho.AccountFromToken(tok)
	var list []mailAccount
	if err := c.get(ctx, hc, acct, "/api/accounts", nil, &list); err != nil {
		return connectors.Account{}, err
	}
	best := -1
	for i, a := range list {
		if a.AccountID != "" && (best < 0 || a.before(list[best])) {
			best = i
		}
	}
	if best < 0 {
		return connectors.Account{}, fmt.Errorf("zoho-mail: identify: %w: the user has no Zoho Mail account", connectors.ErrForbidden)
	}
	a := list[best]
	acct.ID = a.AccountID.String()
	acct.Name = cmpOr(a.PrimaryEmailAddress, cmpOr(a.MailboxAddress, a.AccountDisplayName))
	if email := cmpOr(a.PrimaryEmailAddress, a.MailboxAddress); email != "" {
		acct.Metadata[metaEmail] = email
	}
	if a.ZUID != "" {
		acct.Metadata[metaZUID] = a.ZUID.String()
	}
	if n := cmpOr(a.DisplayName, a.AccountDisplayName); n != "" {
		acct.Metadata["display_name"] = n
	}
	return acct, nil
}

// before reports whether a is the better account to connect than b: a
// Zoho mailbox before an added POP or IMAP account, then the lower
// sequence (an account without one last).
func (a mailAccount) before(b mailAccount) bool {
	if az, bz := a.zohoAccount(), b.zohoAccount(); az != bz {
		return az
	}
	as, aok := a.Sequence.Int()
	bs, bok := b.Sequence.Int()
	return aok && (!bok || as < bs)
}

func (a mailAccount) zohoAccount() bool { return strings.EqualFold(a.Type, "ZOHO_ACCOUNT") }

// ConnectionWebhookURL implements connectors.WebhookURLer: the URL a
// mailbox's outgoing webhook posts to, which nudges this connection's
// poll. "" without POBLYSH_ZOHO_MAIL_WEBHOOK_SECRET.
func (c *Connector) ConnectionWebhookURL(conn connectors.Connection) string {
	tok := zoho.HookToken(c.cfg.WebhookSecret, Name, conn.TenantID, conn.Account.ID, "")
	if tok == "" {
		return ""
	}
	return c.cfg.WebhookURL(Name) + "?" + url.Values{zoho.TokenParam: {tok}}.Encode()
}
