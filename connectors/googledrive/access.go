package googledrive

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/poblysh/poblysh/connectors"
)

// ResourceRefs implements connectors.AccessProver: "my-drive" (the user's
// change feed) when folders are tracked, each configured folder, and each
// shared drive.
func (c *Connector) ResourceRefs(conn connectors.Connection) ([]string, error) {
	cfg, err := config(conn)
	if err != nil {
		return nil, err
	}
	var out []string
	if len(cfg.Folders) > 0 {
		out = append(out, MyDriveRef)
		out = append(out, cfg.Folders...)
	}
	return append(out, cfg.SharedDrives...), nil
}

// ProveAccess implements connectors.AccessProver with the narrow scope:
// the user's change feed with changes.getStartPageToken; a folder with
// files.get, which must answer a folder, and one on a shared drive only if
// the user is not the drive's member (memberDenial); a shared drive with files.get of
// its id (a shared drive's id is its root folder's), which must belong to
// that drive (drives.get would need drive.readonly). Drive answers 404 for
// what the user cannot see.
func (c *Connector) ProveAccess(ctx context.Context, req connectors.AccessRequest) (*connectors.AccessReport, error) {
	cfg, err := config(req.Connection)
	if err != nil {
		return nil, err
	}
	refs, _ := c.ResourceRefs(req.Connection)
	out := &connectors.AccessReport{}
	for _, ref := range refs {
		if !req.Requested(ref) {
			continue
		}
		r, deny, err := c.prove(ctx, req, ref, slices.Contains(cfg.SharedDrives, ref))
		switch {
		case err != nil:
			return nil, fmt.Errorf("google-drive: read %s: %w", ref, err)
		case deny != nil:
			out.Denied = append(out.Denied, *deny)
		default:
			out.Granted = append(out.Granted, r)
		}
	}
	return out, nil
}

func (c *Connector) prove(ctx context.Context, req connectors.AccessRequest, ref string, drive bool) (connectors.Resource, *connectors.Denial, error) {
	if ref == MyDriveRef {
		if _, err := c.startPageToken(ctx, req.HTTP, ""); err != nil {
			d, err := connectors.Denied(ref, err)
			return connectors.Resource{}, d, err
		}
		return connectors.Resource{Ref: ref, Name: "My Drive"}, nil, nil
	}
	f, err := c.getFile(ctx, req.HTTP, ref)
	if err != nil {
		d, err := connectors.Denied(ref, err)
		return connectors.Resource{}, d, err
	}
	if !drive && f.folder() && f.DriveID != "" {
		if d, err := c.memberDenial(ctx, req, ref, f.DriveID); d != nil || err != nil {
			return connectors.Resource{}, d, err
		}
	}
	switch {
	case drive && f.DriveID != ref:
		return connectors.Resource{}, &connectors.Denial{Ref: ref, Reason: "not a shared drive",
			Err: fmt.Errorf("%w: %s is not a shared drive", connectors.ErrNotFound, ref)}, nil
	case !drive && !f.folder():
		return connectors.Resource{}, &connectors.Denial{Ref: ref, Reason: "not a folder",
			Err: fmt.Errorf("%w: %s is not a folder", connectors.ErrNotFound, ref)}, nil
	case f.Trashed:
		return connectors.Resource{}, &connectors.Denial{Ref: ref, Reason: "in the trash",
			Err: fmt.Errorf("%w: %s is in the trash", connectors.ErrNotFound, ref)}, nil
	}
	name := f.Name
	if ref == RootFolder {
		name = "My Drive"
	}
	return connectors.Resource{Ref: ref, ID: f.ID, Name: name}, nil, nil
}

// memberDenial refuses a folder on a shared drive whose member the user is.
// Folders are read from the user's change log, and "certain changes are
// only reflected in the shared drive change log and never in the user's
// change log" (Drive, Retrieve changes): a member tracks the drive whole,
// from its own log. A non-member cannot, and needs not: "if a non-member is
// granted file access to individual items in a shared drive, changes to
// those items are tracked in the user change log" (Identify which change
// log to track). Membership is proved as a shared_drives entry is, with
// files.get of the drive's id; a 404 or 403 there is a non-member, any
// other error is returned.
func (c *Connector) memberDenial(ctx context.Context, req connectors.AccessRequest, ref, drive string) (*connectors.Denial, error) {
	d, err := c.getFile(ctx, req.HTTP, drive)
	if k := connectors.Kind(err); k == connectors.ErrNotFound || k == connectors.ErrForbidden {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("shared drive %s of %s: %w", drive, ref, err)
	}
	if d.DriveID != drive {
		return nil, nil
	}
	return &connectors.Denial{Ref: ref, Reason: "on the shared drive " + drive + ": track the drive in shared_drives",
		Err: fmt.Errorf("%w: %s is on the shared drive %s, whose changes the user's change log misses", connectors.ErrNotFound, ref, drive)}, nil
}

// StreamResource implements connectors.ResourceStreams: "changes" reads
// the user's change feed, "drive:<id>" a shared drive, so a 404 or 403
// there drops that feed's channel route and degrades the connection until
// a later read proves it again.
func (c *Connector) StreamResource(stream string) (string, bool) {
	if stream == streamChanges {
		return MyDriveRef, true
	}
	if id, ok := strings.CutPrefix(stream, streamDrive); ok && driveID.MatchString(id) {
		return id, true
	}
	return "", false
}
