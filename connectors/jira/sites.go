package jira

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"golang.org/x/oauth2"

	"github.com/poblysh/poblysh/connectors"
)

// site is one entry of GET /oauth/token/accessible-resources.
type site struct {
	ID        string   `json:"id"`
	Name      string   `json:"name"`
	URL       string   `json:"url"`
	Scopes    []string `json:"scopes"`
	AvatarURL string   `json:"avatarUrl"`
}

// host is the site URL's lowercase host.
func (s site) host() string {
	u, err := url.Parse(s.URL)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// jira reports whether the token may use Jira on the site: the list also
// names Confluence sites the same consent granted.
func (s site) jira() bool {
	if len(s.Scopes) == 0 {
		return true
	}
	for _, sc := range s.Scopes {
		if strings.Contains(sc, "jira") {
			return true
		}
	}
	return false
}

// sites lists the Jira sites the token reaches.
func (c *Connector) sites(ctx context.Context, hc *http.Client) ([]site, error) {
	var all []site
	if err := call(ctx, hc, http.MethodGet, c.apiURL+"oauth/token/accessible-resources", nil, &all); err != nil {
		return nil, fmt.Errorf("jira: accessible resources: %w", err)
	}
	var out []site
	for _, s := range all {
		if s.ID != "" && s.URL != "" && s.jira() {
			out = append(out, s)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].URL < out[j].URL })
	return out, nil
}

// Identify binds the token to its only Jira site; a token that reaches
// several needs a config naming one (IdentifyFor).
func (c *Connector) Identify(ctx context.Context, tok *oauth2.Token, client *http.Client) (connectors.Account, error) {
	return c.IdentifyFor(ctx, connectors.IdentifyRequest{Token: tok, HTTP: client})
}

// IdentifyFor picks the site a connection is bound to among those the
// token reaches (accessible-resources): the one the config's site names
// (cloud id or URL); without one, the site of the connection being
// re-authorized, or the only site. A config naming by URL the site of the
// connection being re-authorized, as that site was called before an admin
// renamed it (the URL the connection was bound under, or a former one),
// names that site: the cloud id decides, even when another site has that
// URL now (Atlassian keeps an old URL as a redirect for its site, but
// gives it to another site 30 days after the site is deleted, or on an
// admin's request: support's "Transferring cloud site URL to another
// site"). Several sites
// and nothing to choose with is a *connectors.ConfigError listing them
// (422 invalid_config). The account is the site: id = cloud id, name =
// its host; metadata keeps its URL and name, the URLs it had before
// (former_urls, re-authorizing after a rename), the token user (GET
// /myself on that site, which also proves the token reaches Jira there)
// and the time of consent, from which the grant's 365-day end is counted.
func (c *Connector) IdentifyFor(ctx context.Context, req connectors.IdentifyRequest) (connectors.Account, error) {
	all, err := c.sites(ctx, req.HTTP)
	if err != nil {
		return connectors.Account{}, err
	}
	if len(all) == 0 {
		return connectors.Account{}, fmt.Errorf("jira: identify: %w: the authorization reaches no Jira site "+
			"(grant the app access to a Jira site on Atlassian's consent screen)", connectors.ErrForbidden)
	}
	var want string
	if len(req.Config) > 0 {
		var cfg Config
		if err := json.Unmarshal(req.Config, &cfg); err == nil {
			want = cfg.Site
		}
	}
	var known []string // the URLs the re-authorized connection knows its site by
	if req.AccountID != "" {
		known = siteURLs(req.AccountMetadata)
	}
	chosen, err := chooseSite(all, want, req.AccountID, known)
	if err != nil {
		return connectors.Account{}, err
	}
	var me struct {
		AccountID   string `json:"accountId"`
		DisplayName string `json:"displayName"`
		TimeZone    string `json:"timeZone"`
	}
	if err := call(ctx, req.HTTP, http.MethodGet, c.siteAPI(chosen.ID)+"myself", nil, &me); err != nil {
		return connectors.Account{}, fmt.Errorf("jira: identify: read the user on %s: %w", chosen.URL, err)
	}
	acct := connectors.Account{
		ID:   chosen.ID,
		Name: chosen.host(),
		Metadata: map[string]string{
			"url":           strings.TrimRight(chosen.URL, "/"),
			"site_name":     chosen.Name,
			"user_id":       me.AccountID,
			"user_name":     me.DisplayName,
			"authorized_at": c.now().UTC().Format("2006-01-02T15:04:05Z07:00"),
		},
	}
	if chosen.ID == req.AccountID {
		if former := formerURLs(known, chosen.URL); former != "" {
			acct.Metadata[metaFormerURLs] = former
		}
	}
	return acct, nil
}

// chooseSite applies IdentifyFor's rule; known are the URLs the connection
// being re-authorized (accountID) knows its site by. A URL among them
// names that connection's site first: it may have been renamed since, and
// its former URL given to another site the token reaches too.
func chooseSite(all []site, want, accountID string, known []string) (site, error) {
	if want != "" {
		if accountID != "" && (want == accountID || slices.ContainsFunc(known, func(u string) bool { return strings.EqualFold(u, want) })) {
			for _, s := range all {
				if s.ID == accountID {
					return s, nil // the cloud id decides
				}
			}
		}
		for _, s := range all {
			if s.ID == want || strings.EqualFold(strings.TrimRight(s.URL, "/"), want) {
				return s, nil
			}
		}
		return site{}, &connectors.ConfigError{Fields: map[string]string{
			"site": fmt.Sprintf("%s is not among the Jira sites this authorization reaches: %s", want, listSites(all)),
		}}
	}
	if accountID != "" {
		for _, s := range all {
			if s.ID == accountID {
				return s, nil
			}
		}
	}
	if len(all) == 1 {
		return all[0], nil
	}
	return site{}, &connectors.ConfigError{Fields: map[string]string{
		"site": "the authorization reaches several Jira sites; connect again with config.site set to one of: " + listSites(all),
	}}
}

// metaFormerURLs is the account metadata listing the URLs the
// connection's site had before it was renamed, oldest first, separated
// by spaces (at most maxFormerURLs): a config naming the site by one of
// them still names it.
const metaFormerURLs = "former_urls"

// maxFormerURLs bounds former_urls: Atlassian lets a site's URL be
// changed 3 times.
const maxFormerURLs = 5

// siteURLs lists the URLs an account's metadata knows its site by: the
// former ones, then the URL it is bound under.
func siteURLs(meta map[string]string) []string {
	out := strings.Fields(meta[metaFormerURLs])
	if u := strings.TrimRight(meta["url"], "/"); u != "" {
		out = append(out, u)
	}
	return out
}

// namesSite reports whether a config's site names the account's site: its
// cloud id, its URL or a former URL.
func namesSite(acct connectors.Account, want string) bool {
	return want == acct.ID || slices.ContainsFunc(siteURLs(acct.Metadata), func(u string) bool { return strings.EqualFold(u, want) })
}

// formerURLs is the former_urls of a site now at current that was known by
// known: every one but current, oldest first, the last maxFormerURLs.
func formerURLs(known []string, current string) string {
	current = strings.TrimRight(current, "/")
	var out []string
	for _, u := range known {
		if !strings.EqualFold(u, current) && !slices.ContainsFunc(out, func(o string) bool { return strings.EqualFold(o, u) }) {
			out = append(out, u)
		}
	}
	if len(out) > maxFormerURLs {
		out = out[len(out)-maxFormerURLs:]
	}
	return strings.Join(out, " ")
}

// Compile-time check: an authorization of a stored site keeps its URLs.
var _ connectors.AccountKeeper = (*Connector)(nil)

// KeepAccount implements connectors.AccountKeeper: the account fresh (the
// site's URL now, its name, the token user, the time of consent) with
// former_urls naming the URLs either account knew the site by (fresh's
// former ones, then stored's and the URL stored was bound under), oldest
// first, never fresh's URL, the last maxFormerURLs. A plain connect's
// Identify knows no stored account: without this it stored no
// former_urls, and a config naming the site by a URL it had before a
// rename was refused as another site's.
func (c *Connector) KeepAccount(stored, fresh connectors.Account) connectors.Account {
	md := maps.Clone(fresh.Metadata)
	if md == nil {
		md = map[string]string{}
	}
	known := append(strings.Fields(md[metaFormerURLs]), siteURLs(stored.Metadata)...)
	delete(md, metaFormerURLs)
	if former := formerURLs(known, md["url"]); former != "" {
		md[metaFormerURLs] = former
	}
	fresh.Metadata = md
	return fresh
}

func listSites(all []site) string {
	parts := make([]string, 0, len(all))
	for _, s := range all {
		parts = append(parts, fmt.Sprintf("%s (cloud id %s)", strings.TrimRight(s.URL, "/"), s.ID))
	}
	return strings.Join(parts, ", ")
}
