package googlecalendar

import (
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// metaCalendarKey is the account metadata naming the primary calendar in
// dedupe and fingerprint keys when the account's address changed since the
// connection was made (a Workspace rename keeps the OpenID subject, so the
// connection heals in place with the new address in metadata.email). It
// holds the address first connected; absent, the keys name metadata.email.
const metaCalendarKey = "calendar_key"

// Compile-time check: a re-authorization keeps the primary calendar's key.
var _ connectors.AccountKeeper = (*Connector)(nil)

// KeepAccount implements connectors.AccountKeeper: the account fresh, the
// address Google names now in metadata.email (what Signal payloads, the
// calendar's context and everything else read), with the primary
// calendar's key of stored in metadata.calendar_key when it is another
// address, so the Signals and fingerprints stored under it stay found. A
// rename back to the first address drops it.
func (c *Connector) KeepAccount(stored, fresh connectors.Account) connectors.Account {
	return google.KeepAddress(stored, fresh, metaCalendarKey, false)
}

// primaryKey is what stands for the primary calendar in acct's keys: the
// address first connected (metadata.calendar_key after a rename), else
// the account's address; "" when acct names none.
func primaryKey(acct connectors.Account) string {
	return google.PinnedAddress(acct, metaCalendarKey, false)
}
