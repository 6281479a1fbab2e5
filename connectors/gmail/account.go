package gmail

import (
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// metaMailboxKey is the account metadata naming the mailbox in dedupe keys
// when its address changed since the connection was made (a Workspace
// rename keeps the OpenID subject, so a re-authorization heals the
// connection in place with the new address in metadata.email). It holds
// the address first connected, in lower case; absent, the keys name
// metadata.email. Google Calendar keeps its own (calendar_key): each
// connection row keeps what its own keys name.
const metaMailboxKey = "mailbox_key"

// KeepAccount implements connectors.AccountKeeper: the account fresh, the
// address Google names now in metadata.email (what Signal payloads, the
// press detector and everything else read), with the mailbox's key of
// stored in metadata.mailbox_key when it is another address, so the
// Signals stored under it stay found. A rename back to the first address
// drops it.
func (c *Connector) KeepAccount(stored, fresh connectors.Account) connectors.Account {
	return google.KeepAddress(stored, fresh, metaMailboxKey, true)
}

// mailboxOf is the connected mailbox's address as the account names it
// now: what Signals show (context, the actor of sent mail, the thread
// URL's authuser) and what the press detector takes for the user's own.
func mailboxOf(conn connectors.Connection) string {
	return strings.ToLower(google.AccountEmail(conn.Account))
}

// mailboxKey is what stands for the mailbox in acct's dedupe keys: the
// address first connected (metadata.mailbox_key after a rename), else the
// account's address; "" when acct names none.
func mailboxKey(acct connectors.Account) string {
	return google.PinnedAddress(acct, metaMailboxKey, true)
}
