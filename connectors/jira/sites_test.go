package jira

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/poblysh/poblysh/connectors"
)

// TestKeepAccount: an authorization of a stored site stores the account
// it read with every URL the stored one knew the site by, oldest first,
// never its URL now, at most maxFormerURLs.
func TestKeepAccount(t *testing.T) {
	const a, b, c = "https://acme-pr.atlassian.net", "https://acme-launch.atlassian.net", "https://acme-go.atlassian.net"
	acct := func(md map[string]string) connectors.Account {
		return connectors.Account{ID: "cloud-1", Name: "host", Metadata: md}
	}
	for _, tc := range []struct {
		name          string
		stored, fresh map[string]string
		former        string
	}{
		{"unchanged", map[string]string{"url": a}, map[string]string{"url": a}, ""},
		{"a rename the connect reads", map[string]string{"url": a}, map[string]string{"url": b}, a},
		{"a rename recorded before", map[string]string{"url": b, "former_urls": a}, map[string]string{"url": b}, a},
		{"a re-authorization's, merged", map[string]string{"url": b, "former_urls": a}, map[string]string{"url": c, "former_urls": a + " " + b}, a + " " + b},
		{"a second rename", map[string]string{"url": b, "former_urls": a}, map[string]string{"url": c}, a + " " + b},
		{"a rename back", map[string]string{"url": b, "former_urls": a}, map[string]string{"url": a}, b},
		{"spelled otherwise", map[string]string{"url": "https://ACME-PR.atlassian.net/", "former_urls": b}, map[string]string{"url": a}, b},
		{"at most five", map[string]string{"url": "https://s6.atlassian.net",
			"former_urls": "https://s1.atlassian.net https://s2.atlassian.net https://s3.atlassian.net https://s4.atlassian.net https://s5.atlassian.net"},
			map[string]string{"url": a}, "https://s2.atlassian.net https://s3.atlassian.net https://s4.atlassian.net https://s5.atlassian.net https://s6.atlassian.net"},
		{"nothing stored", nil, map[string]string{"url": a}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fresh := acct(tc.fresh)
			fresh.Metadata["user_id"] = "u-2"
			kept := (&Connector{}).KeepAccount(acct(tc.stored), fresh)
			require.Equal(t, tc.former, kept.Metadata[metaFormerURLs])
			require.Equal(t, tc.fresh["url"], kept.Metadata["url"])
			require.Equal(t, "u-2", kept.Metadata["user_id"], "the rest is the account read now")
			_, has := kept.Metadata[metaFormerURLs]
			require.Equal(t, tc.former != "", has)
		})
	}
	kept := (&Connector{}).KeepAccount(acct(map[string]string{"url": a}), connectors.Account{ID: "cloud-1"})
	require.Equal(t, map[string]string{metaFormerURLs: a}, kept.Metadata, "fresh without metadata")
}
