package zohomail

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/connectortest"
)

// accountsAPI is a Zoho Mail host (US) answering GET /api/accounts with
// accounts(token) for each token, except "throttled", which gets Zoho
// Mail's 429 without Retry-After (a lock period). The connector keeps its
// default pace.
type accountsAPI struct {
	p *connectors.Provider
	c *Connector
}

func newAccountsAPI(t *testing.T, accounts func(token string) string) *accountsAPI {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Zoho-oauthtoken ")
		if tok == "throttled" {
			w.WriteHeader(http.StatusTooManyRequests)
			_, _ = fmt.Fprint(w, `{"status":{"code":429,"description":"Too many requests"},"data":{"errorCode":"TOO_MANY_REQUESTS"}}`)
			return
		}
		_, _ = fmt.Fprintf(w, `{"status":{"code":200,"description":"success"},"data":%s}`, accounts(tok))
	}))
	t.Cleanup(srv.Close)
	p := newProvider(t, map[string]string{"POBLYSH_ZOHO_MAIL_API_URLS": "us=" + srv.URL})
	return &accountsAPI{p: p, c: p.Connector.(*Connector)}
}

// identify runs Identify for a user's new token, as the callback does.
func (a *accountsAPI) identify(ctx context.Context, token string) (connectors.Account, error) {
	tok := (&oauth2.Token{AccessToken: token}).WithExtra(map[string]any{"dc": "us"})
	return a.c.Identify(ctx, tok, connectortest.Client(a.p, "", token))
}

// oneZohoAccount is the documented answer of GET /api/accounts for a user
// whose account id is the token (get-all-users-accounts.html).
func oneZohoAccount(token string) string {
	return `[{"accountId":"` + token + `","type":"ZOHO_ACCOUNT","sequence":1,"primaryEmailAddress":"` + token +
		`@zylker.com","mailboxAddress":"` + token + `@zylker.com","zuid":809451734,"enabled":true}]`
}

// Zoho's Mail thresholds and lock periods are per user: one user's
// throttled connect must not refuse another user's.
func TestIdentifyThrottleOfOneUserLeavesOthersAlone(t *testing.T) {
	t.Parallel()
	a := newAccountsAPI(t, oneZohoAccount)
	_, err := a.identify(t.Context(), "throttled")
	require.Equal(t, connectors.ErrRateLimited, connectors.Kind(err), "%v", err)
	acct, err := a.identify(t.Context(), "2560636000000008002")
	require.NoError(t, err, "another user's connect is not in the first user's lock period")
	require.Equal(t, "2560636000000008002", acct.ID)
}

// Users connecting at the same time do not wait for each other's turns
// under one pace (25 calls a minute, bursts of 2): each is a Zoho user of
// their own.
func TestIdentifyOfUsersIsNotPacedTogether(t *testing.T) {
	t.Parallel()
	a := newAccountsAPI(t, oneZohoAccount)
	for i := range 5 {
		id := fmt.Sprintf("256063600000000800%d", i)
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		acct, err := a.identify(ctx, id)
		cancel()
		require.NoError(t, err, "user %d", i)
		require.Equal(t, id, acct.ID)
	}
}

// GET /api/accounts lists the user's Zoho mailbox beside the POP and IMAP
// accounts added to it, each with a type and a sequence, and no
// "isDefaultAccount" (get-all-users-accounts.html): the Zoho account is
// the one connected, whatever the order.
func TestIdentifyTakesTheZohoAccount(t *testing.T) {
	t.Parallel()
	for name, accounts := range map[string]string{
		"pop account listed first": `[
			{"accountId":"111","type":"POP_ACCOUNT","sequence":1,"primaryEmailAddress":"me@gmail.example","zuid":809451734},
			{"accountId":"2560636000000008002","type":"ZOHO_ACCOUNT","sequence":2,"primaryEmailAddress":"rebecca@zylker.com","zuid":809451734}]`,
		"imap account listed last": `[
			{"accountId":"2560636000000008002","type":"ZOHO_ACCOUNT","sequence":"2","primaryEmailAddress":"rebecca@zylker.com","zuid":809451734},
			{"accountId":"222","type":"IMAP_ACCOUNT","sequence":"1","primaryEmailAddress":"me@outlook.example","zuid":809451734}]`,
		"two zoho accounts, lowest sequence": `[
			{"accountId":"333","type":"ZOHO_ACCOUNT","sequence":3,"primaryEmailAddress":"old@zylker.com","zuid":809451734},
			{"accountId":"2560636000000008002","type":"ZOHO_ACCOUNT","sequence":1,"primaryEmailAddress":"rebecca@zylker.com","zuid":809451734}]`,
		"no type, lowest sequence": `[
			{"accountId":"444","sequence":2,"primaryEmailAddress":"other@zylker.com"},
			{"accountId":"2560636000000008002","sequence":1,"primaryEmailAddress":"rebecca@zylker.com"}]`,
	} {
		t.Run(name, func(t *testing.T) {
			a := newAccountsAPI(t, func(string) string { return accounts })
			acct, err := a.identify(t.Context(), "tok")
			require.NoError(t, err)
			require.Equal(t, "2560636000000008002", acct.ID)
			require.Equal(t, "rebecca@zylker.com", acct.Name)
		})
	}
}
