package googledrive

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// Reasons a file is document.created.
const (
	reasonNew     = "new"      // created (or copied) in a tracked folder
	reasonMovedIn = "moved_in" // moved into a tracked folder, or its folder was
)

// grant is a sharing grant that makes document.shared: the file is public
// (type anyone, with or without a link) or open to a whole domain outside
// the organisation.
type grant struct {
	key          string // "anyone" or "domain:<domain>"
	sharedWith   string // "anyone" or "domain"
	domain       string
	role         string
	discoverable bool
}

// grants lists a file's public and domain grants from its permissions
// (Drive returns them to users who may share the file; never for items on
// shared drives). A grant to one of own, the organisation's domains, is
// left out: "anyone at acme.com with the link" is the commonest internal
// share, and document.shared is sharing beyond the organisation.
func grants(f *file, own []string) []grant {
	var out []grant
	for _, p := range f.Permissions {
		var g grant
		switch p.Type {
		case "anyone":
			g = grant{key: "anyone", sharedWith: "anyone"}
		case "domain":
			d := strings.ToLower(p.Domain)
			if slices.Contains(own, d) {
				continue
			}
			g = grant{key: "domain:" + d, sharedWith: "domain", domain: d}
		default:
			continue
		}
		g.role, g.discoverable = p.Role, p.AllowFileDiscovery
		if !slices.ContainsFunc(out, func(o grant) bool { return o.key == g.key }) {
			out = append(out, g)
		}
	}
	return out
}

// ownDomains are the organisation's domains as the connected account
// tells them: its email's domain, and the Google Workspace domain its
// identity named (hd), when that differs. An account that names neither
// has none, and every domain grant is sharing then.
func ownDomains(acct connectors.Account) []string {
	var own []string
	if _, d, ok := strings.Cut(google.AccountEmail(acct), "@"); ok && d != "" {
		own = append(own, strings.ToLower(d))
	}
	if hd := strings.ToLower(acct.Metadata["hd"]); hd != "" && !slices.Contains(own, hd) {
		own = append(own, hd)
	}
	return own
}

// attrs are the document.shared attributes of a grant.
func (g grant) attrs() map[string]any {
	a := map[string]any{"shared_with": g.sharedWith, "role": g.role, "discoverable": g.discoverable}
	if g.domain != "" {
		a["domain"] = g.domain
	}
	return a
}

// emit appends a Signal of kind about f at placement at, with extra
// attributes. Raw is the file as the API sent it.
func (p *pass) emit(kind string, f *file, raw json.RawMessage, at placement, when time.Time, key string, extra map[string]any) {
	var compact bytes.Buffer
	if json.Compact(&compact, raw) == nil {
		raw = compact.Bytes()
	}
	attrs := map[string]any{"mime_type": f.MimeType, "folder_path": at.path}
	if v, err := strconv.ParseInt(f.Version, 10, 64); err == nil {
		attrs["version"] = v
	}
	if n, err := strconv.ParseInt(f.Size, 10, 64); err == nil {
		attrs["size"] = n
	}
	if f.DriveID != "" {
		attrs["drive_id"] = f.DriveID
	}
	for k, v := range extra {
		attrs[k] = v
	}
	p.page.Signals = append(p.page.Signals, connectors.Signal{
		Kind:       kind,
		OccurredAt: when,
		DedupeKey:  key,
		Payload: connectors.Payload{
			Title:      title(kind, f, extra),
			URL:        f.WebViewLink,
			Actor:      actor(who(kind, f, extra)),
			Subject:    connectors.Ref{Type: "file", ID: f.ID, Name: f.Name},
			Context:    at.parent,
			Attributes: attrs,
		},
		Raw: raw,
	})
}

// title says what happened to the file.
func title(kind string, f *file, extra map[string]any) string {
	name := strings.TrimSpace(f.Name)
	if name == "" {
		name = "(untitled)"
	}
	switch kind {
	case KindCreated:
		if extra["reason"] == reasonMovedIn {
			return "Document moved in: " + name
		}
		return "Document created: " + name
	case KindUpdated:
		return "Document edited: " + name
	case KindTrashed:
		return "Document trashed: " + name
	case KindShared:
		if d, _ := extra["domain"].(string); d != "" {
			return "Document shared with " + d + ": " + name
		}
		return "Document shared publicly: " + name
	}
	return name
}

// who is the user a Signal of kind about f (with attributes extra) names:
// who caused it, or no one when Drive does not say (the catalog's actor).
// No one for document.shared and a move in, which Drive says nothing of
// (sharing and moving leave lastModifyingUser, the last content editor,
// alone). For document.trashed, who trashed it (trashingUser), which Drive
// gives for shared drive items only ("Only populated for items in shared
// drives", and only for an explicit trash): trashing leaves
// lastModifyingUser alone, so on My Drive it names the last editor, who may
// not be who trashed the file, and the Signal names no one. Else the last
// modifying user.
func who(kind string, f *file, extra map[string]any) *user {
	switch {
	case kind == KindShared, kind == KindCreated && extra["reason"] == reasonMovedIn:
		return nil
	case kind == KindTrashed:
		return f.TrashingUser
	}
	return f.LastModifyingUser
}

// actor is a Drive user: the name, and the address when Drive shows it.
func actor(u *user) connectors.Actor {
	if u == nil {
		return connectors.Actor{}
	}
	id := u.EmailAddress
	if id == "" {
		id = u.PermissionID
	}
	name := u.DisplayName
	if name == "" {
		name = id
	}
	return connectors.Actor{ID: id, Name: name, Email: u.EmailAddress}
}
