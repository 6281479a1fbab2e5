package googledrive

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/connectors/google"
)

// folderMime is the MIME type of Drive folders.
const folderMime = "application/vnd.google-apps.folder"

// shortcutMime is the MIME type of Drive shortcuts: "files that link to
// other files or folders on Google Drive" (shortcutDetails.targetId names
// the target).
const shortcutMime = "application/vnd.google-apps.shortcut"

// fileFields are the File fields every call asks for (Drive returns only
// id, name, mimeType and kind unless fields says otherwise).
const fileFields = "id,name,mimeType,parents,driveId,createdTime,modifiedTime,trashedTime,version,size,webViewLink," +
	"trashed,explicitlyTrashed,lastModifyingUser(displayName,emailAddress,permissionId,me)," +
	"trashingUser(displayName,emailAddress,permissionId,me),permissions(id,type,role,domain,allowFileDiscovery)"

// file is a Drive File resource, as far as the connector reads it.
type file struct {
	ID                string   `json:"id"`
	Name              string   `json:"name"`
	MimeType          string   `json:"mimeType"`
	Parents           []string `json:"parents"`
	DriveID           string   `json:"driveId"`
	CreatedTime       string   `json:"createdTime"`
	ModifiedTime      string   `json:"modifiedTime"`
	TrashedTime       string   `json:"trashedTime"`
	Version           string   `json:"version"` // int64 as a string
	Size              string   `json:"size"`    // int64 as a string
	WebViewLink       string   `json:"webViewLink"`
	Trashed           bool     `json:"trashed"`
	ExplicitlyTrashed bool     `json:"explicitlyTrashed"`
	LastModifyingUser *user    `json:"lastModifyingUser"`
	// TrashingUser is who trashed the file: "If the file has been
	// explicitly trashed, the user who trashed it. Only populated for
	// items in shared drives."
	TrashingUser *user        `json:"trashingUser"`
	Permissions  []permission `json:"permissions"`
}

type user struct {
	DisplayName  string `json:"displayName"`
	EmailAddress string `json:"emailAddress"`
	PermissionID string `json:"permissionId"`
	Me           bool   `json:"me"`
}

// permission is a sharing grant. type is user, group, domain or anyone;
// role is reader, commenter, writer, fileOrganizer, organizer or owner.
type permission struct {
	ID                 string `json:"id"`
	Type               string `json:"type"`
	Role               string `json:"role"`
	Domain             string `json:"domain"`
	AllowFileDiscovery bool   `json:"allowFileDiscovery"`
}

func (f *file) folder() bool { return f.MimeType == folderMime }

// shortcut reports a shortcut: no document, and not followed (its target
// is tracked where it lives, if at all).
func (f *file) shortcut() bool { return f.MimeType == shortcutMime }

func (f *file) parent() string {
	if len(f.Parents) == 0 {
		return ""
	}
	return f.Parents[0] // a file has exactly one parent since 2020
}

// change is a Change resource; File is kept raw for the Signal.
type change struct {
	ChangeType string          `json:"changeType"`
	Time       string          `json:"time"`
	Removed    bool            `json:"removed"`
	FileID     string          `json:"fileId"`
	DriveID    string          `json:"driveId"`
	File       json.RawMessage `json:"file"`
}

type changeList struct {
	NextPageToken     string   `json:"nextPageToken"`
	NewStartPageToken string   `json:"newStartPageToken"`
	Changes           []change `json:"changes"`
}

type fileList struct {
	NextPageToken    string            `json:"nextPageToken"`
	IncompleteSearch bool              `json:"incompleteSearch"`
	Files            []json.RawMessage `json:"files"`
}

// allDrives are the parameters every call sends: the connector handles
// shared drive items (Drive's "Implement shared drive support" guide).
func allDrives(q url.Values) url.Values {
	q.Set("supportsAllDrives", "true")
	return q
}

// call sends one request to the Drive API (google.Call).
func (c *Connector) call(ctx context.Context, hc *http.Client, method, path string, q url.Values, body any, out any) error {
	u := c.Config.Endpoints.APIURL + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return google.Call(ctx, hc, method, u, body, out, c.ClassifyResponse)
}

// startPageToken is changes.getStartPageToken of the user's feed (drive "")
// or a shared drive's.
func (c *Connector) startPageToken(ctx context.Context, hc *http.Client, drive string) (string, error) {
	q := allDrives(url.Values{})
	if drive != "" {
		q.Set("driveId", drive)
	}
	var out struct {
		StartPageToken string `json:"startPageToken"`
	}
	if err := c.call(ctx, hc, http.MethodGet, "changes/startPageToken", q, nil, &out); err != nil {
		return "", err
	}
	if out.StartPageToken == "" {
		return "", fmt.Errorf("changes.getStartPageToken: %w: no startPageToken", connectors.ErrTransient)
	}
	return out.StartPageToken, nil
}

// changes is one page of changes.list: the user's feed (drive ""), for
// folders in My Drive or shared with the user, or a shared drive's own.
// Both ask for items of all drives; a folder on a shared drive is still
// not tracked from the user's feed, which misses some of its changes
// (Drive logs them in the drive's log only). Removed entries are kept
// (includeRemoved defaults to true) so members that disappear are
// forgotten.
func (c *Connector) changes(ctx context.Context, hc *http.Client, drive, token string) (*changeList, error) {
	q := allDrives(url.Values{
		"pageToken": {token},
		"pageSize":  {strconv.Itoa(c.pageSize)},
		"spaces":    {"drive"},
		"fields":    {"nextPageToken,newStartPageToken,changes(changeType,time,removed,fileId,driveId,file(" + fileFields + "))"},
	})
	q.Set("includeItemsFromAllDrives", "true")
	if drive != "" {
		q.Set("driveId", drive)
	}
	var out changeList
	if err := c.call(ctx, hc, http.MethodGet, "changes", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// listFiles is one page of files.list: a folder's children, or every item
// of a shared drive.
func (c *Connector) listFiles(ctx context.Context, hc *http.Client, it walkItem) (*fileList, error) {
	q := allDrives(url.Values{
		"pageSize": {strconv.Itoa(c.pageSize)},
		"orderBy":  {"createdTime"},
		"fields":   {"nextPageToken,incompleteSearch,files(" + fileFields + ")"},
	})
	q.Set("includeItemsFromAllDrives", "true")
	drive, inDrive := strings.CutPrefix(it.Corpus, "drive:")
	switch {
	case it.Drive != "":
		q.Set("corpora", "drive")
		q.Set("driveId", it.Drive)
	case inDrive:
		q.Set("corpora", "drive")
		q.Set("driveId", drive)
	case it.Corpus == corpusUser:
		q.Set("corpora", "user")
	default:
		q.Set("corpora", "allDrives")
	}
	query := "trashed = false"
	if it.Folder != "" {
		query = "'" + it.Folder + "' in parents and " + query
	}
	q.Set("q", query)
	if it.PageToken != "" {
		q.Set("pageToken", it.PageToken)
	}
	var out fileList
	if err := c.call(ctx, hc, http.MethodGet, "files", q, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// corpusUser is the walk corpus of what the user sees outside the shared
// drives the user is a member of: My Drive, and items shared with the user
// (a folder on a shared drive the user is not a member of among them).
const corpusUser = "user"

// corpus is the walk corpus of a folder: its shared drive, or the user's.
// A non-member's folder on a shared drive is listed in the user's corpus
// once Drive refuses the drive's (see pass.walk).
func (f *file) corpus() string {
	if f.DriveID != "" {
		return "drive:" + f.DriveID
	}
	return corpusUser
}

// getFile is files.get ("root" is My Drive; a shared drive's id is its root
// folder's).
func (c *Connector) getFile(ctx context.Context, hc *http.Client, id string) (*file, error) {
	var f file
	err := c.call(ctx, hc, http.MethodGet, "files/"+url.PathEscape(id),
		allDrives(url.Values{"fields": {"id,name,mimeType,parents,driveId,trashed"}}), nil, &f)
	if err != nil {
		return nil, err
	}
	return &f, nil
}

// reasonNotMember is the reason of Drive's 403 to a user who is not a
// member of the shared drive a call names: "This error occurs when a user
// attempts to access a shared drive in which they're not a member"
// (Resolve errors).
const reasonNotMember = "teamDriveMembershipRequired"

// errNotMember is that 403. It is an ErrForbidden for every caller but the
// walk, which lists a folder of such a drive in the user's corpus.
var errNotMember = fmt.Errorf("%w: HTTP 403 %s: the user is not a member of the shared drive", connectors.ErrForbidden, reasonNotMember)

// ClassifyResponse maps Drive API responses to neutral errors with
// Google's common classification (403 usageLimits reasons and 429 are rate
// limits). A 400 from changes.list means the stored page token is not
// accepted: Drive documents that page tokens do not expire, so this is
// defensive, and a resync rebuilds the stream without duplicates. A 403
// teamDriveMembershipRequired is errNotMember.
func (c *Connector) ClassifyResponse(resp *http.Response) error {
	switch resp.StatusCode {
	case http.StatusBadRequest:
		if resp.Request != nil && strings.HasSuffix(resp.Request.URL.Path, "/changes") {
			return fmt.Errorf("%w: HTTP 400 %v from changes.list: the page token is not accepted", connectors.ErrCursorExpired, google.Reasons(resp))
		}
	case http.StatusForbidden:
		if slices.Contains(google.Reasons(resp), reasonNotMember) {
			return errNotMember
		}
	}
	return google.Classify(resp)
}
