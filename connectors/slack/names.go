package slack

import (
	"context"
	"errors"
	"html"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	slackapi "github.com/slack-go/slack"

	"github.com/poblysh/poblysh/connectors"
)

// defaultNameTTL is how long a resolved user or channel name is used
// before a sync looks it up again (POBLYSH_SLACK_NAME_TTL).
const defaultNameTTL = 6 * time.Hour

// maxNamesPerAccount bounds one account's cache; past it the oldest half
// is dropped (a Grid org can have hundreds of thousands of users).
const maxNamesPerAccount = 50000

// nameCache holds display names of users and channels, and whether a
// user is a bot (users.info is_bot), per account (the
// workspace, or the org of an org-wide install; an account is held by one
// connection, Spec.ExclusiveAccount), in the memory of one process. A sync
// looks up the ids of a page that are missing or older than ttl, one
// users.info or conversations.info call each; a webhook, which has no
// token, reads what syncs of the same process resolved
// (docs/providers/slack.md, "Names").
type nameCache struct {
	ttl time.Duration
	mu  sync.Mutex
	// accts maps account id to object id (U…, W…, B…, C…, G…) to entry.
	accts map[string]map[string]nameEntry
}

type nameEntry struct {
	name string // "" when Slack does not know the id (user_not_found)
	bot  bool   // users.info is_bot: the user is an app's bot user
	at   time.Time
}

func newNameCache(ttl time.Duration) *nameCache {
	return &nameCache{ttl: ttl, accts: map[string]map[string]nameEntry{}}
}

// get returns the cached entry and whether it is younger than the TTL.
func (nc *nameCache) get(acct, id string, now time.Time) (nameEntry, bool, bool) {
	if nc == nil {
		return nameEntry{}, false, false
	}
	nc.mu.Lock()
	defer nc.mu.Unlock()
	e, ok := nc.accts[acct][id]
	return e, ok, ok && now.Sub(e.at) < nc.ttl
}

// put caches the name of a channel (listings name the bot's channels).
func (nc *nameCache) put(acct, id, name string, now time.Time) {
	nc.putEntry(acct, id, nameEntry{name: name, at: now})
}

// putEntry caches e, looked up at e.at.
func (nc *nameCache) putEntry(acct, id string, e nameEntry) {
	now := e.at
	if nc == nil || acct == "" || id == "" {
		return
	}
	nc.mu.Lock()
	defer nc.mu.Unlock()
	m := nc.accts[acct]
	if m == nil {
		m = map[string]nameEntry{}
		nc.accts[acct] = m
	}
	if len(m) >= maxNamesPerAccount {
		cut := now.Add(-nc.ttl / 2)
		for k, e := range m {
			if e.at.Before(cut) || len(m) >= maxNamesPerAccount {
				delete(m, k)
			}
		}
	}
	m[id] = e
}

// names is what the normalizers know of the names of one account: ids
// resolved for this page (sync) or cached (webhooks). A nil *names knows
// nothing; every lookup then falls back to the id, and no user is known
// to be a bot.
type names struct {
	byID map[string]string
	// bots holds the user ids whose users.info said is_bot.
	bots map[string]bool
}

func (n *names) name(id string) string {
	if n == nil {
		return ""
	}
	return n.byID[id]
}

// bot reports whether id is a bot user, as far as the names know: an id
// never looked up is not known to be one.
func (n *names) bot(id string) bool {
	return n != nil && n.bots[id]
}

func (n *names) set(id string, e nameEntry) {
	n.byID[id] = e.name
	if e.bot {
		if n.bots == nil {
			n.bots = map[string]bool{}
		}
		n.bots[id] = true
	}
}

// peek is what the cache holds for ids, fresh or stale, without a call
// (the webhook path).
func (nc *nameCache) peek(acct string, ids []string) *names {
	if nc == nil {
		return nil
	}
	out := &names{byID: map[string]string{}}
	nc.mu.Lock()
	defer nc.mu.Unlock()
	for _, id := range ids {
		if e, ok := nc.accts[acct][id]; ok && (e.name != "" || e.bot) {
			out.set(id, e)
		}
	}
	return out
}

// resolve returns the names of ids for the account of s: cached ones
// younger than the TTL as they are, the others looked up now with one
// users.info or conversations.info call each (a stale name is kept when
// its lookup is refused). An id Slack does not know (not found, or a
// scope the install lacks) is remembered as unknown for the TTL; other
// errors (rate limits, Slack trouble, a revoked token) fail the page, so
// the engine retries it and no Signal is stored without its names.
func (c *Connector) resolve(ctx context.Context, s *session, ids []string) (*names, error) {
	out := &names{byID: map[string]string{}}
	for _, id := range ids {
		if _, done := out.byID[id]; done || id == "" {
			continue
		}
		e, ok, fresh := c.names.get(s.team, id, s.now)
		if !fresh {
			name, bot, err := c.lookupName(ctx, s, id)
			switch {
			case err == nil:
				e = nameEntry{name: name, bot: bot, at: s.now}
			case errors.Is(err, connectors.ErrNotFound) || errors.Is(err, connectors.ErrForbidden) || errors.Is(err, connectors.ErrInvalidConfig):
				if !ok {
					e = nameEntry{at: s.now}
				}
				e.at = s.now
			default:
				return nil, err
			}
			c.names.putEntry(s.team, id, e)
		}
		out.set(id, e)
	}
	return out, nil
}

// lookupName makes one call: users.info for a user id (its name, and
// is_bot), conversations.info for a channel id.
func (c *Connector) lookupName(ctx context.Context, s *session, id string) (string, bool, error) {
	if isChannelID(id) {
		var v struct {
			Channel struct {
				Name string `json:"name"`
			} `json:"channel"`
		}
		if err := c.call(ctx, s.hc, "conversations.info", url.Values{"channel": {id}}, &v); err != nil {
			return "", false, err
		}
		return v.Channel.Name, false, nil
	}
	var v struct {
		User slackapi.User `json:"user"`
	}
	if err := c.call(ctx, s.hc, "users.info", url.Values{"user": {id}}, &v); err != nil {
		return "", false, err
	}
	return displayName(&v.User), v.User.IsBot, nil
}

// displayName is the name Slack shows for a user: the profile's display
// name, else the real name, else the handle.
func displayName(u *slackapi.User) string {
	for _, n := range []string{u.Profile.DisplayName, u.Profile.RealName, u.RealName, u.Name} {
		if n = strings.TrimSpace(n); n != "" {
			return n
		}
	}
	return ""
}

func isChannelID(id string) bool { return strings.HasPrefix(id, "C") || strings.HasPrefix(id, "G") }

// markupRef matches Slack's message markup: <@U123>, <@U123|name>,
// <#C123>, <#C123|name>, <!here>, <!subteam^S1|@team>, <https://x|label>,
// <mailto:a@b.c>.
var markupRef = regexp.MustCompile(`<([^<>|]+)(?:\|([^<>]*))?>`)

// mentionedIDs lists the user and channel ids text mentions without a
// label, which a reader needs resolved.
func mentionedIDs(text string) []string {
	var ids []string
	for _, m := range markupRef.FindAllStringSubmatch(text, -1) {
		ref, label := m[1], m[2]
		if label != "" {
			continue
		}
		if id, ok := strings.CutPrefix(ref, "@"); ok {
			ids = append(ids, id)
		} else if id, ok := strings.CutPrefix(ref, "#"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// renderText turns Slack's markup into what a person reads
// (https://docs.slack.dev/messaging/formatting-message-text/): a user
// mention is @ and the display name (the id when unknown), a channel link
// # and its name, a special mention @here, a URL its label or the URL
// itself; &amp; &lt; &gt; are unescaped.
func renderText(text string, n *names) string {
	out := markupRef.ReplaceAllStringFunc(text, func(s string) string {
		m := markupRef.FindStringSubmatch(s)
		ref, label := m[1], m[2]
		switch {
		case strings.HasPrefix(ref, "@"):
			id := ref[1:]
			if label != "" {
				return "@" + strings.TrimPrefix(label, "@")
			}
			if name := n.name(id); name != "" {
				return "@" + name
			}
			return "@" + id
		case strings.HasPrefix(ref, "#"):
			id := ref[1:]
			if label != "" {
				return "#" + label
			}
			if name := n.name(id); name != "" {
				return "#" + name
			}
			return "#" + id
		case strings.HasPrefix(ref, "!date^"):
			return label // the fallback text of a date
		case strings.HasPrefix(ref, "!"):
			if label != "" {
				return "@" + strings.TrimPrefix(label, "@")
			}
			cmd, _, _ := strings.Cut(ref[1:], "^")
			return "@" + cmd
		case label != "":
			return label
		}
		return strings.TrimPrefix(ref, "mailto:")
	})
	return html.UnescapeString(out)
}
