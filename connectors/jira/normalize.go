package jira

import (
	"cmp"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// trackedFields are the changelog fieldIds that make an issue.updated: what
// a PR team follows. Everything else (rank, watchers, time tracking,
// sprint, attachments, links, custom fields...) is noise. Status changes
// are issue.status_changed instead.
var trackedFields = []string{"summary", "description", "priority", "assignee", "labels", "fixVersions", "resolution"}

// creationWindow: changes stamped this close to an issue's creation are
// part of creating it (Jira records the initial field values, automation
// fills fields right away); issue.created covers them.
const creationWindow = 2 * time.Second

// normalizer turns issues into Signals for one site.
type normalizer struct {
	// siteURL builds browse URLs ("https://acme.atlassian.net").
	siteURL string
	// host is the site's lowercase host ("acme.atlassian.net"), which
	// every dedupe key begins with (see key).
	host string
	// categories maps status ids to status category keys, for transitions
	// into or out of a status other than the issue's current one (REST
	// backfill); nil: only the current status' category is known.
	categories map[string]string
	// floor drops happenings before it (the backfill window, or the
	// incremental window's lower bound); zero keeps everything.
	floor time.Time
}

// attributes describe the issue as it stands in the object read.
func (n normalizer) attributes(is *issue) map[string]any {
	f := is.Fields
	a := map[string]any{"key": is.Key, "status": ""}
	if f.Status != nil {
		a["status"] = f.Status.Name
		if f.Status.StatusCategory != nil && f.Status.StatusCategory.Key != "" {
			a["status_category"] = f.Status.StatusCategory.Key
		}
	}
	if f.IssueType != nil && f.IssueType.Name != "" {
		a["issue_type"] = f.IssueType.Name
	}
	if f.Priority != nil && f.Priority.Name != "" {
		a["priority"] = f.Priority.Name
	}
	a["labels"] = append([]string{}, f.Labels...)
	if f.Assignee != nil && f.Assignee.DisplayName != "" {
		a["assignee"] = f.Assignee.DisplayName
	}
	versions := []string{}
	for _, v := range f.FixVersions {
		versions = append(versions, v.Name)
	}
	a["fix_versions"] = versions
	if f.Resolution != nil && f.Resolution.Name != "" {
		a["resolution"] = f.Resolution.Name
	}
	if d := plainText(f.Description); d != "" {
		a["description"] = d
	}
	return a
}

// payload is the common part of every Signal about is.
func (n normalizer) payload(is *issue, title string, actor *user) connectors.Payload {
	p := connectors.Payload{
		Title:      title,
		URL:        n.siteURL + "/browse/" + is.Key,
		Subject:    connectors.Ref{Type: "issue", ID: is.ID, Name: is.Key},
		Attributes: n.attributes(is),
	}
	if pr := is.Fields.Project; pr != nil {
		p.Context = connectors.Ref{Type: "project", ID: pr.ID, Name: cmpOr(pr.Name, pr.Key)}
	}
	if actor != nil {
		p.Actor = connectors.Actor{ID: actor.AccountID, Name: actor.DisplayName}
	}
	return p
}

// key is the dedupe key of a happening of issue id on the site:
// "<host>/issue:<id>:<what>". Jira numbers issues and changelog entries
// per site, so two sites of one tenant have the same ids; the site is
// named by its host, the only part of a webhook body that names it
// (docs/providers/jira.md, "Dedupe keys").
func (n normalizer) key(id, what string) string { return n.host + "/issue:" + id + ":" + what }

func (n normalizer) keep(t time.Time) bool { return n.floor.IsZero() || !t.Before(n.floor) }

// duringCreation reports a change stamped within the creation window.
func duringCreation(is *issue, at time.Time) bool {
	c := is.Fields.Created.Time
	return !c.IsZero() && at.Sub(c) < creationWindow
}

// created is issue.created, at the issue's creation.
func (n normalizer) created(is *issue, actor *user, raw json.RawMessage) (connectors.Signal, bool) {
	t := is.Fields.Created.Time
	if t.IsZero() || !n.keep(t) {
		return connectors.Signal{}, false
	}
	if actor == nil {
		actor = is.Fields.Creator
		if actor == nil {
			actor = is.Fields.Reporter
		}
	}
	return connectors.Signal{
		Kind: KindCreated, OccurredAt: t, DedupeKey: n.key(is.ID, "created"),
		Payload: n.payload(is, "Issue "+is.Key+" created: "+is.Fields.Summary, actor), Raw: raw,
	}, true
}

// changes turns one changelog entry into at most two Signals: a status
// change (its "status" item, matched on fieldId since the field name's
// case varies) and an update naming the tracked fields it changed. Both
// are keyed by (site, issue id, changelog id), so a webhook and a later
// search of the same change are stored once. Entries within the creation
// window are part of the creation.
func (n normalizer) changes(is *issue, h history, at time.Time, actor *user, raw json.RawMessage) []connectors.Signal {
	if at.IsZero() || !n.keep(at) || h.ID == "" {
		return nil
	}
	if duringCreation(is, at) {
		return nil
	}
	var out []connectors.Signal
	var changed []string
	for _, it := range h.Items {
		switch {
		case it.FieldID == "status":
			p := n.payload(is, "Issue "+is.Key+" moved from "+it.FromString+" to "+it.ToString+": "+is.Fields.Summary, actor)
			p.Attributes["from_status"], p.Attributes["to_status"], p.Attributes["status"] = it.FromString, it.ToString, it.ToString
			delete(p.Attributes, "status_category")
			if cat := n.category(is, it.To); cat != "" {
				p.Attributes["status_category"] = cat
			}
			out = append(out, connectors.Signal{
				Kind: KindStatusChanged, OccurredAt: at, DedupeKey: n.key(is.ID, "changelog:"+h.ID+":status"),
				Payload: p, Raw: raw,
			})
		case slices.Contains(trackedFields, it.FieldID) && !slices.Contains(changed, it.FieldID):
			changed = append(changed, it.FieldID)
		}
	}
	if len(changed) > 0 {
		p := n.payload(is, "Issue "+is.Key+" updated: "+is.Fields.Summary, actor)
		p.Attributes["changed_fields"] = changed
		out = append(out, connectors.Signal{
			Kind: KindUpdated, OccurredAt: at, DedupeKey: n.key(is.ID, "changelog:"+h.ID+":updated"),
			Payload: p, Raw: raw,
		})
	}
	return out
}

// category is the status category of status id to: the current status'
// when the issue sits in it, else the site's status list when known.
func (n normalizer) category(is *issue, to string) string {
	if s := is.Fields.Status; s != nil && s.ID == to && s.StatusCategory != nil {
		return s.StatusCategory.Key
	}
	return n.categories[to]
}

// updatedWithoutChangelog is issue.updated keyed by (site, issue id,
// updated), for an update whose changelog is not known.
func (n normalizer) updatedWithoutChangelog(is *issue, actor *user, raw json.RawMessage) (connectors.Signal, bool) {
	t := is.Fields.Updated.Time
	if t.IsZero() || !n.keep(t) || t.Sub(is.Fields.Created.Time) < creationWindow {
		return connectors.Signal{}, false
	}
	p := n.payload(is, "Issue "+is.Key+" updated: "+is.Fields.Summary, actor)
	p.Attributes["changed_fields"] = []string{}
	return connectors.Signal{
		Kind: KindUpdated, OccurredAt: t, DedupeKey: n.key(is.ID, "updated:"+strconv.FormatInt(t.UnixMilli(), 10)),
		Payload: p, Raw: raw,
	}, true
}

// restSignals is every Signal a searched issue yields: its creation and
// each changelog entry, oldest first (histories arrive newest first;
// entries of the same millisecond in the order Jira numbered them).
// histories, when given, replaces the embedded changelog (fetched in bulk
// for long histories).
//
// A search reads the issue as it stands now, but each Signal describes a
// happening of the past under the dedupe key its webhook used: a creation
// whose webhook was missed must not be stored as already done and
// resolved, nor a months-old change with today's assignee. So the entries
// are walked newest first, each one's Signals built from the issue as that
// entry left it, and then its items undone (before). Entries within the
// creation window are not undone: issue.created covers them, as the
// webhook of the creation carried those values.
func (n normalizer) restSignals(is *issue, raw json.RawMessage, histories []history) []connectors.Signal {
	var out []connectors.Signal
	if histories == nil && is.Changelog == nil {
		if s, ok := n.created(is, nil, raw); ok {
			out = append(out, s)
		}
		if s, ok := n.updatedWithoutChangelog(is, nil, raw); ok {
			out = append(out, s)
		}
		return out
	}
	if histories == nil {
		histories = is.Changelog.Histories
	}
	hs := slices.Clone(histories)
	slices.SortStableFunc(hs, func(a, b history) int {
		if c := a.Created.Compare(b.Created.Time); c != 0 {
			return c
		}
		return cmp.Or(cmp.Compare(len(a.ID), len(b.ID)), strings.Compare(a.ID, b.ID))
	})
	then := *is
	perEntry := make([][]connectors.Signal, len(hs))
	for i := len(hs) - 1; i >= 0; i-- {
		h := hs[i]
		if duringCreation(is, h.Created.Time) {
			continue
		}
		perEntry[i] = n.changes(&then, h, h.Created.Time, h.Author, raw)
		then.Fields = n.before(is, then.Fields, h)
	}
	if s, ok := n.created(&then, nil, raw); ok {
		out = append(out, s)
	}
	for _, c := range perEntry {
		out = append(out, c...)
	}
	return out
}

// before is f as it was before h: each field attributes (and the title)
// read that h changed is set back to its item's from value, the id in
// from and the display value in fromString. A status set back gets its
// category from the current status or the site's status list (category),
// else none. A fix version h removed is put back last, since the changelog
// does not say where it stood. The issue key, project, reporter and
// creator are never set back. f's slices and pointers are replaced, never
// changed in place, so the issue read stays as it stands.
func (n normalizer) before(is *issue, f issueFields, h history) issueFields {
	for _, it := range h.Items {
		switch it.FieldID {
		case "status":
			f.Status = nil
			if it.From != "" || it.FromString != "" {
				f.Status = &status{ID: it.From, Name: it.FromString}
				if cat := n.category(is, it.From); cat != "" {
					f.Status.StatusCategory = &statusCategory{Key: cat}
				}
			}
		case "summary":
			f.Summary = it.FromString
		case "description":
			// The changelog holds descriptions as wiki markup, the REST
			// v2 form webhook bodies carry: plainText reads it as such.
			f.Description = nil
			if it.FromString != "" {
				f.Description, _ = json.Marshal(it.FromString)
			}
		case "issuetype":
			f.IssueType = namedFrom(it)
		case "priority":
			f.Priority = namedFrom(it)
		case "resolution":
			f.Resolution = namedFrom(it)
		case "assignee":
			f.Assignee = nil
			if it.From != "" || it.FromString != "" {
				f.Assignee = &user{AccountID: it.From, DisplayName: it.FromString}
			}
		case "labels":
			// Labels hold no spaces; the changelog lists them space-separated.
			f.Labels = strings.Fields(it.FromString)
		case "fixVersions":
			// One item per version added (to) or removed (from).
			f.FixVersions = slices.DeleteFunc(slices.Clone(f.FixVersions), func(v named) bool {
				return (it.To != "" && v.ID == it.To) || (it.To == "" && it.ToString != "" && v.Name == it.ToString)
			})
			if it.From != "" || it.FromString != "" {
				f.FixVersions = append(f.FixVersions, named{ID: it.From, Name: it.FromString})
			}
		}
	}
	return f
}

// namedFrom is the from value of an item naming an object (priority,
// resolution, issue type); nil when it had none.
func namedFrom(it changeItem) *named {
	if it.From == "" && it.FromString == "" {
		return nil
	}
	return &named{ID: it.From, Name: it.FromString}
}
