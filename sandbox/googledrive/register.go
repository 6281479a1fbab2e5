package drivesandbox

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/poblysh/poblysh/sandbox"
)

// Name is the provider the fake plays (the connector's Spec.Name).
const Name = "google-drive"

// FaultShortPages caps every changes.list and files.list page at 3 items
// whatever pageSize asks (Drive may return fewer than asked), so that even
// the small seed is read in several pages.
const FaultShortPages = "short-pages"

func init() { sandbox.Register(Name, newFake) }

// newFake maps the uniform sandbox options onto this fake's own. Pushes go
// to the address of each watch channel; DeliverTo pins them instead.
func newFake(o sandbox.Options) (sandbox.Fake, error) {
	if err := sandbox.CheckFaults(Name, o.Faults, FaultShortPages); err != nil {
		return nil, err
	}
	opts := Options{ClientID: o.ClientID, ClientSecret: o.ClientSecret, WebhookSecret: o.WebhookSecret,
		AccessTTL: o.AccessTTL, Seed: o.Seed, Now: o.Now}
	if slices.Contains(o.Faults, FaultShortPages) {
		opts.PageSize = 3
	}
	return New(opts), nil
}

// Demo implements sandbox.Demoer: connect the Press folder (and its
// subfolders) and the Comms shared drive, then create a document two
// folders down (a changes.watch notification tells the service to sync).
func (s *Server) Demo() sandbox.Demo {
	return sandbox.Demo{
		Config: map[string]any{"folders": []string{PressFolderID}, "shared_drives": []string{CommsDriveID}},
		Activity: func(ctx context.Context, c *http.Client, baseURL, marker string) (sandbox.DemoActivity, error) {
			var out struct {
				File struct {
					ID string `json:"id"`
				} `json:"file"`
				Notifications []any `json:"notifications"`
			}
			err := sandbox.ControlJSON(ctx, c, http.MethodPost, baseURL, "/_sandbox/drive/files", map[string]any{
				"name": "Launch FAQ (" + marker + ")", "parent": YearFolderID,
			}, &out)
			if err != nil {
				return sandbox.DemoActivity{}, err
			}
			return sandbox.DemoActivity{Kind: "document.created", Description: fmt.Sprintf(
				"created document %s in Press/Releases/2025 (%d push notification(s))", out.File.ID, len(out.Notifications))}, nil
		},
	}
}
