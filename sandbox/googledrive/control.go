package drivesandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	googlesandbox "github.com/poblysh/poblysh/sandbox/google"
)

// Control errors, mapped to 404 and 400 by the control routes.
var (
	ErrNoFile  = errors.New("drivesandbox: no such file or folder")
	ErrInvalid = errors.New("drivesandbox: invalid request")
)

// FileInput describes a file or folder to create.
type FileInput struct {
	// ID is optional: a stable id derived from the name and parent otherwise.
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	MimeType string `json:"mime_type,omitempty"` // default: a Google Doc
	// Parent is a folder id or "root" (the owner's My Drive; the default),
	// or a shared drive's id.
	Parent string `json:"parent,omitempty"`
	// Owner is the creating user (default: the fake's user).
	Owner string `json:"owner,omitempty"`
	// Size in bytes (-1 or unset for Google Docs: Drive reports their size
	// too, the fake gives them 1024).
	Size int64 `json:"size,omitempty"`
	// Target is the file or folder a shortcut (MimeShortcut) links to,
	// required for one and refused for anything else; a shortcut's name
	// defaults to its target's, as Drive's does.
	Target string `json:"target,omitempty"`
	// Age backdates the file's created and modified times.
	Age time.Duration `json:"-"`
}

// Notification is one push notification sent (or held) for a change.
type Notification = googlesandbox.Notification

// ChannelInfo is a watch channel as GET /_sandbox/drive/channels reports it.
type ChannelInfo struct {
	ID          string    `json:"id"`
	ResourceID  string    `json:"resource_id"`
	Feed        string    `json:"feed"` // user:<email> or drive:<id>
	User        string    `json:"user"`
	Address     string    `json:"address"`
	Expiration  time.Time `json:"expiration"`
	Stopped     bool      `json:"stopped"`
	Live        bool      `json:"live"`
	LastMessage int64     `json:"last_message"`
}

// Channels lists every channel ever registered, live or not, by id.
func (s *Server) Channels() []ChannelInfo {
	now := s.now()
	var out []ChannelInfo
	for _, c := range s.chans.List() {
		out = append(out, ChannelInfo{ID: c.ID, ResourceID: c.ResourceID, Feed: c.Key, User: c.User, Address: c.Address,
			Expiration: c.Expiration, Stopped: c.Stopped, Live: c.Live(now), LastMessage: c.Messages})
	}
	return out
}

// AddDrive creates (or renames) a shared drive with its members.
func (s *Server) AddDrive(id, name string, members ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.drives[id]
	if d == nil {
		d = &sharedDrive{id: id, members: map[string]bool{}}
		s.drives[id] = d
		s.files[id] = &dfile{id: id, mime: MimeFolder, driveID: id, created: s.now(), modified: s.now(), size: -1}
	}
	d.name = name
	s.files[id].name = name
	for _, m := range members {
		d.members[strings.ToLower(m)] = true
	}
}

// CreateFile creates a file or folder and notifies the feeds that see it.
func (s *Server) CreateFile(ctx context.Context, in FileInput, opt sandbox.DeliveryOptions) (map[string]any, []Notification, error) {
	s.mu.Lock()
	f, err := s.createLocked(in)
	if err != nil {
		s.mu.Unlock()
		return nil, nil, err
	}
	keys := s.logLocked(f, false)
	wire := s.wireLocked(f, f.owner)
	s.mu.Unlock()
	return wire, s.notify(ctx, keys, opt), nil
}

func (s *Server) createLocked(in FileInput) (*dfile, error) {
	var target *dfile
	switch {
	case in.MimeType == MimeShortcut:
		if target = s.files[in.Target]; target == nil || target.deleted {
			return nil, fmt.Errorf("%w: a shortcut's target %q is no file or folder", ErrInvalid, in.Target)
		}
		if strings.TrimSpace(in.Name) == "" {
			in.Name = target.name
		}
	case in.Target != "":
		return nil, fmt.Errorf("%w: only a shortcut has a target", ErrInvalid)
	}
	if strings.TrimSpace(in.Name) == "" {
		return nil, fmt.Errorf("%w: name is required", ErrInvalid)
	}
	owner := strings.ToLower(in.Owner)
	if owner == "" {
		owner = s.opts.User
	}
	parent := in.Parent
	if parent == "" || parent == "root" {
		parent = s.ensureRootLocked(owner).id
	}
	p := s.files[parent]
	if p == nil || p.mime != MimeFolder {
		return nil, fmt.Errorf("%w: parent %s is not a folder", ErrNoFile, parent)
	}
	mime := in.MimeType
	if mime == "" {
		mime = MimeDoc
	}
	id := in.ID
	if id == "" {
		s.version++
		id = newID("1", fmt.Sprintf("%s/%s/%d", parent, in.Name, s.version))
	}
	if _, dup := s.files[id]; dup {
		return nil, fmt.Errorf("%w: id %s exists", ErrInvalid, id)
	}
	at := s.now().Add(-in.Age)
	size := in.Size
	switch {
	case mime == MimeFolder || mime == MimeShortcut:
		size = -1 // "not populated for files that have no size, like shortcuts and folders"
	case size <= 0:
		size = 1024
	}
	f := &dfile{id: id, name: in.Name, mime: mime, parent: parent, driveID: p.driveID, created: at, size: size}
	if target != nil {
		f.target, f.targetMime = target.id, target.mime
	}
	if p.driveID == "" {
		f.owner = owner
	}
	s.touchLocked(f, owner)
	f.modified = at
	s.files[id] = f
	return f, nil
}

// mutate applies change to a file and notifies its feeds (and the feeds
// that saw it before, for a file that moves or is shared away).
func (s *Server) mutate(ctx context.Context, id string, opt sandbox.DeliveryOptions, change func(f *dfile) error) ([]Notification, error) {
	s.mu.Lock()
	f := s.files[id]
	if f == nil || f.deleted {
		s.mu.Unlock()
		return nil, fmt.Errorf("%w: %s", ErrNoFile, id)
	}
	before := s.readersLocked(f)
	if err := change(f); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	keys := s.logLocked(f, f.deleted)
	for _, u := range before { // a feed that saw the file before sees it go
		if k := userKey(u); f.driveID == "" && !contains(keys, k) {
			keys = append(keys, k)
		}
	}
	s.mu.Unlock()
	return s.notify(ctx, keys, opt), nil
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// EditFile is a content edit (a Docs autosave): a new modifiedTime and
// version.
func (s *Server) EditFile(ctx context.Context, id, by string, opt sandbox.DeliveryOptions) ([]Notification, error) {
	return s.mutate(ctx, id, opt, func(f *dfile) error {
		s.touchLocked(f, by0(by, s.opts.User))
		if f.size >= 0 {
			f.size += 17
		}
		return nil
	})
}

// RenameFile renames a file: metadata only (its version moves, its
// modifiedTime does not).
func (s *Server) RenameFile(ctx context.Context, id, name string, opt sandbox.DeliveryOptions) ([]Notification, error) {
	return s.mutate(ctx, id, opt, func(f *dfile) error {
		f.name = name
		s.version++
		f.version = s.version
		return nil
	})
}

// MoveFile moves a file or folder under another folder (metadata only).
func (s *Server) MoveFile(ctx context.Context, id, parent string, opt sandbox.DeliveryOptions) ([]Notification, error) {
	return s.mutate(ctx, id, opt, func(f *dfile) error {
		if parent == "root" {
			parent = s.ensureRootLocked(s.opts.User).id
		}
		p := s.files[parent]
		if p == nil || p.mime != MimeFolder {
			return fmt.Errorf("%w: parent %s is not a folder", ErrNoFile, parent)
		}
		f.parent, f.driveID = parent, p.driveID
		s.version++
		f.version = s.version
		return nil
	})
}

// ShareFile adds a permission (metadata only).
func (s *Server) ShareFile(ctx context.Context, id string, p Permission, opt sandbox.DeliveryOptions) ([]Notification, error) {
	switch p.Type {
	case "anyone", "domain", "user", "group":
	default:
		return nil, fmt.Errorf("%w: permission type must be user, group, domain or anyone", ErrInvalid)
	}
	if p.Role == "" {
		p.Role = "reader"
	}
	return s.mutate(ctx, id, opt, func(f *dfile) error {
		s.version++
		f.version = s.version
		if p.ID == "" {
			p.ID = strconv.FormatInt(s.version, 10) + "k"
			if p.Type == "anyone" {
				p.ID = "anyoneWithLink"
			}
		}
		f.perms = append(f.perms, p)
		return nil
	})
}

// TrashFile moves a file to the trash, by user by ("" is the default
// user). Like Drive, a shared drive item names who trashed it
// (trashingUser); trashing leaves modifiedTime and lastModifyingUser alone.
func (s *Server) TrashFile(ctx context.Context, id, by string, opt sandbox.DeliveryOptions) ([]Notification, error) {
	return s.mutate(ctx, id, opt, func(f *dfile) error {
		f.trashed, f.explicitly, f.trashedTime, f.trasher = true, true, s.now(), by0(by, s.opts.User)
		s.version++
		f.version = s.version
		return nil
	})
}

// DeleteFile deletes a file for good: feeds list it as removed.
func (s *Server) DeleteFile(ctx context.Context, id string, opt sandbox.DeliveryOptions) ([]Notification, error) {
	return s.mutate(ctx, id, opt, func(f *dfile) error {
		f.deleted = true
		return nil
	})
}

// File returns a file as the API renders it for its owner (nil if none).
func (s *Server) File(id string) map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.files[id]
	if f == nil {
		return nil
	}
	return s.wireLocked(f, by0(f.owner, s.opts.User))
}

func by0(by, def string) string {
	if by == "" {
		return def
	}
	return by
}

// notify pushes a "change" notification to the live channels of each feed.
func (s *Server) notify(ctx context.Context, keys []string, opt sandbox.DeliveryOptions) []Notification {
	var out []Notification
	for _, k := range keys {
		out = append(out, s.chans.Notify(ctx, k, "change", nil, opt)...)
	}
	return out
}

// controlRoutes mounts the Drive control API:
//
//	POST   /_sandbox/drive/drives                  {"id", "name", "members": [email, …]}
//	POST   /_sandbox/drive/files                   create (FileInput)
//	GET    /_sandbox/drive/files/{id}              the file as the API renders it
//	POST   /_sandbox/drive/files/{id}/edit         a content edit (autosave); {"by": email} optional
//	PATCH  /_sandbox/drive/files/{id}              {"name"}: rename
//	POST   /_sandbox/drive/files/{id}/move         {"parent": folder id or "root"}
//	POST   /_sandbox/drive/files/{id}/share        a permission {"type", "role", "domain", "emailAddress"}
//	POST   /_sandbox/drive/files/{id}/trash        {"by": email} optional
//	DELETE /_sandbox/drive/files/{id}              delete for good
//	GET    /_sandbox/drive/channels                watch channels, live or not
//	POST   /_sandbox/drive/consent                 {"decline": [scope, …]} (googlesandbox.OAuth)
//
// Changes push a "change" notification to every live channel of the feeds
// that see them; ?copies=N sends duplicates and ?hold=true queues them for
// POST /_sandbox/flush.
func (s *Server) controlRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /_sandbox/drive/drives", func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			ID      string   `json:"id"`
			Name    string   `json:"name"`
			Members []string `json:"members"`
		}
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.ID == "" {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": `body must be {"id": "...", "name": "...", "members": [...]}`})
			return
		}
		s.AddDrive(body.ID, body.Name, body.Members...)
		sandbox.WriteJSON(w, http.StatusCreated, map[string]string{"id": body.ID})
	})
	mux.HandleFunc("POST /_sandbox/drive/files", func(w http.ResponseWriter, r *http.Request) {
		var in FileInput
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a file: " + err.Error()})
			return
		}
		control(w, r, http.StatusCreated, func(opt sandbox.DeliveryOptions) (any, []Notification, error) {
			return s.CreateFile(r.Context(), in, opt)
		})
	})
	mux.HandleFunc("GET /_sandbox/drive/files/{id}", func(w http.ResponseWriter, r *http.Request) {
		if f := s.File(r.PathValue("id")); f != nil {
			sandbox.WriteJSON(w, http.StatusOK, f)
			return
		}
		sandbox.WriteJSON(w, http.StatusNotFound, map[string]string{"error": ErrNoFile.Error()})
	})
	fileOp := func(pattern string, op func(r *http.Request, id string, body map[string]string, opt sandbox.DeliveryOptions) ([]Notification, error)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			body := map[string]string{}
			if r.ContentLength != 0 {
				if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
					sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": "body must be a JSON object of strings"})
					return
				}
			}
			control(w, r, http.StatusOK, func(opt sandbox.DeliveryOptions) (any, []Notification, error) {
				notes, err := op(r, r.PathValue("id"), body, opt)
				return s.File(r.PathValue("id")), notes, err
			})
		})
	}
	fileOp("POST /_sandbox/drive/files/{id}/edit", func(r *http.Request, id string, b map[string]string, opt sandbox.DeliveryOptions) ([]Notification, error) {
		return s.EditFile(r.Context(), id, b["by"], opt)
	})
	fileOp("PATCH /_sandbox/drive/files/{id}", func(r *http.Request, id string, b map[string]string, opt sandbox.DeliveryOptions) ([]Notification, error) {
		return s.RenameFile(r.Context(), id, b["name"], opt)
	})
	fileOp("POST /_sandbox/drive/files/{id}/move", func(r *http.Request, id string, b map[string]string, opt sandbox.DeliveryOptions) ([]Notification, error) {
		return s.MoveFile(r.Context(), id, b["parent"], opt)
	})
	fileOp("POST /_sandbox/drive/files/{id}/share", func(r *http.Request, id string, b map[string]string, opt sandbox.DeliveryOptions) ([]Notification, error) {
		return s.ShareFile(r.Context(), id, Permission{Type: b["type"], Role: b["role"], Domain: b["domain"], EmailAddress: b["emailAddress"]}, opt)
	})
	fileOp("POST /_sandbox/drive/files/{id}/trash", func(r *http.Request, id string, b map[string]string, opt sandbox.DeliveryOptions) ([]Notification, error) {
		return s.TrashFile(r.Context(), id, b["by"], opt)
	})
	fileOp("DELETE /_sandbox/drive/files/{id}", func(r *http.Request, id string, _ map[string]string, opt sandbox.DeliveryOptions) ([]Notification, error) {
		return s.DeleteFile(r.Context(), id, opt)
	})
	mux.HandleFunc("GET /_sandbox/drive/channels", func(w http.ResponseWriter, r *http.Request) {
		sandbox.WriteJSON(w, http.StatusOK, map[string]any{"channels": s.Channels()})
	})
}

// control runs a control operation with the request's delivery options and
// answers {"file", "notifications"}.
func control(w http.ResponseWriter, r *http.Request, okStatus int, f func(sandbox.DeliveryOptions) (any, []Notification, error)) {
	opt, err := googlesandbox.DeliveryOptions(r)
	if err != nil {
		sandbox.WriteJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	file, notes, err := f(opt)
	if err != nil {
		status := http.StatusBadRequest
		if errors.Is(err, ErrNoFile) {
			status = http.StatusNotFound
		}
		sandbox.WriteJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	sandbox.WriteJSON(w, okStatus, map[string]any{"file": file, "notifications": notes})
}

// RootID returns the id of a user's My Drive folder ("" for the fake's
// user).
func (s *Server) RootID(user string) string {
	if user == "" {
		user = s.opts.User
	}
	return rootID(user)
}
