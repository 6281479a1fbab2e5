package googledrive

import (
	"slices"

	"github.com/poblysh/poblysh/connectors"
)

// maxDepth bounds a walk up the folder tree (Drive allows 100 levels).
const maxDepth = 100

// placement is where a file sits relative to the tracked roots.
type placement struct {
	in bool
	// path names the folders from the tracked root down to the file's own
	// folder.
	path []string
	// parent is the file's folder.
	parent connectors.Ref
}

// place finds whether a file lies under a tracked root. On a shared drive's
// feed every item of the drive does; the user's feed walks up from the
// file's folder through the ancestry cache.
func (p *pass) place(f *file) (placement, error) {
	if p.feed.drive != "" && f.DriveID != p.feed.drive {
		return placement{}, nil
	}
	at, err := p.placeFolder(f.parent())
	if err != nil || !at.in {
		return at, err
	}
	return at, nil
}

// placeFolder walks up from folder id until it meets a tracked root (in),
// a folder with no parent, or one the token cannot read (out). Folders not
// in the cache are read with files.get and cached (Live: as they are now);
// the top of a tree outside the roots is cached as Out so it is not read
// again.
func (p *pass) placeFolder(id string) (placement, error) {
	cur := p.cur
	var names []string
	var parent connectors.Ref
	for depth := 0; id != "" && depth < maxDepth; depth++ {
		e, ok := cur.Folders[id]
		if !ok {
			var f *file
			var err error
			if e, f, err = p.readFolder(id); err != nil || f == nil {
				return placement{}, err
			}
		}
		if depth == 0 {
			parent = connectors.Ref{Type: "folder", ID: id, Name: e.Name}
		}
		names = append(names, e.Name)
		if slices.Contains(cur.Roots, id) {
			slices.Reverse(names)
			return placement{in: true, path: names, parent: parent}, nil
		}
		if e.Out {
			return placement{}, nil
		}
		id = e.Parent
	}
	return placement{}, nil
}

// readFolder reads a folder with files.get and caches it as it is now
// (Live), or as Out when it has no parent and is not a root, or when the
// token cannot read it (f is nil then).
func (p *pass) readFolder(id string) (folder, *file, error) {
	f, err := p.c.getFile(p.ctx, p.hc, id)
	if k := connectors.Kind(err); k == connectors.ErrNotFound || k == connectors.ErrForbidden {
		p.cur.Folders[id] = folder{Out: true}
		return folder{Out: true}, nil, nil
	}
	if err != nil {
		return folder{}, nil, err
	}
	e := folder{Name: f.Name, Parent: f.parent(), Live: true}
	if e.Parent == "" && !slices.Contains(p.cur.Roots, id) {
		e.Out, e.Live = true, false
	}
	p.cur.Folders[id] = e
	return e, f, nil
}
