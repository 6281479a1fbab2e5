package google

import (
	"maps"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

// PinnedAddress is what stands for acct's address in a connector's keys
// (Calendar's primary calendar, Gmail's mailbox): the address first
// connected, kept in metadata[field] by KeepAddress after a Workspace
// rename (which keeps the OpenID subject, so the connection heals in place
// with the new address in metadata.email), else the address now; "" when
// acct names none. fold lower-cases it (Gmail's keys always were).
func PinnedAddress(acct connectors.Account, field string, fold bool) string {
	if k := acct.Metadata[field]; k != "" {
		return foldAddress(k, fold)
	}
	return foldAddress(AccountEmail(acct), fold)
}

// KeepAddress is a connectors.AccountKeeper's KeepAccount for a connector
// whose keys name the account's address: fresh (its address now in
// metadata.email, what payloads show), with stored's pinned address in
// metadata[field] when it is another address, so the Signals stored under
// it stay found. A rename back to the first address drops it.
func KeepAddress(stored, fresh connectors.Account, field string, fold bool) connectors.Account {
	key := PinnedAddress(stored, field, fold)
	md := maps.Clone(fresh.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	delete(md, field)
	if key != "" && key != foldAddress(AccountEmail(fresh), fold) {
		md[field] = key
	}
	fresh.Metadata = md
	return fresh
}

func foldAddress(a string, fold bool) string {
	if fold {
		return strings.ToLower(a)
	}
	return a
}
