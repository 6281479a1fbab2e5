package googledrive

import (
	"slices"

	"github.com/poblysh/poblysh/connectors"
)

// followConfig brings the user feed's roots in line with the config's
// folders. A PATCH replaces the config and keeps the stream's cursor, whose
// roots were resolved when the stream started, so every page compares them.
// A folder taken out is no longer a root from this page on (nothing in it
// makes a Signal), its pending listings are dropped, and it is listed to
// forget its files. A folder put in becomes a root and is listed as a first
// connect lists it, with a backfill window from now. A config that did not
// change costs nothing.
func (p *pass) followConfig() error {
	cur := p.cur
	if cur.Tracked == nil {
		cur.Tracked = cur.trackedRefs()
	}
	var out, in []string
	for _, ref := range cur.Tracked {
		if !slices.Contains(p.feed.roots, ref) {
			out = append(out, ref)
		}
	}
	for _, ref := range p.feed.roots {
		if !slices.Contains(cur.Tracked, ref) {
			in = append(in, ref)
		}
	}
	for _, ref := range out {
		if err := p.untrack(ref); err != nil {
			return err
		}
	}
	for _, ref := range in {
		if err := p.trackAdded(ref); err != nil {
			return err
		}
	}
	cur.Tracked = slices.Clone(p.feed.roots)
	return nil
}

// trackedRefs are the config's folders a cursor written before Tracked was
// kept was started from: its roots, My Drive as "root". A folder that was
// gone when the stream started is not among them, and is looked up again
// once.
func (c *Cursor) trackedRefs() []string {
	out := make([]string, 0, len(c.Roots))
	for _, id := range c.Roots {
		if id == c.MyDrive {
			id = RootFolder
		}
		out = append(out, id)
	}
	return out
}

// track makes f, which the config names ref, a root, and queues it, the
// walk item that lists it.
func (p *pass) track(ref string, f *file, it walkItem) {
	cur := p.cur
	name := f.Name
	if ref == RootFolder {
		name, cur.MyDrive = "My Drive", f.ID
	}
	cur.Roots = append(cur.Roots, f.ID)
	cur.Folders[f.ID] = folder{Name: name}
	cur.Walk = append(cur.Walk, it)
}

// trackAdded makes a folder put into the config a root. It is listed as a
// first connect lists it: files created or modified within backfill_days
// (from now) make the backfill's Signals; files that are members already,
// tracked through another root, make none.
func (p *pass) trackAdded(ref string) error {
	f, err := p.c.getFile(p.ctx, p.hc, ref)
	if k := connectors.Kind(err); k == connectors.ErrNotFound || k == connectors.ErrForbidden {
		return nil // gone since it was proved, as at the start
	}
	if err != nil {
		return err
	}
	if slices.Contains(p.cur.Roots, f.ID) {
		return nil
	}
	cutoff := p.now.AddDate(0, 0, -p.c.backfillWindow(p.conn)).Unix()
	p.track(ref, f, walkItem{Folder: f.ID, Corpus: f.corpus(), Cutoff: cutoff})
	return nil
}

// untrack drops a root taken out of the config. Its cache entry (a root's
// has no parent) is read again, so it is placed where it is; the listings
// queued under it that no other root covers are dropped as the cache places
// them (a queued folder whose entry was evicted is kept without a files.get:
// there may be thousands, and walk places it when it comes); unless it lies
// under another root it is listed to forget its files.
func (p *pass) untrack(ref string) error {
	cur := p.cur
	id := ref
	if ref == RootFolder {
		id = cur.MyDrive
	}
	if id == "" || !slices.Contains(cur.Roots, id) {
		return nil // gone when the stream started: never a root
	}
	cur.Roots = slices.DeleteFunc(slices.Clone(cur.Roots), func(r string) bool { return r == id })
	_, f, err := p.readFolder(id)
	if err != nil {
		return err
	}
	cur.Walk = slices.DeleteFunc(slices.Clone(cur.Walk), func(it walkItem) bool {
		return it.Folder != "" && !it.Forget && cur.cachedOut(it.Folder)
	})
	if f == nil {
		return nil // not readable: its files are forgotten as their changes come
	}
	at, err := p.placeFolder(id)
	if err != nil || at.in {
		return err
	}
	cur.Walk = append(cur.Walk, walkItem{Folder: id, Corpus: f.corpus(), Forget: true})
	return nil
}

// cachedOut tells whether the ancestry cache places folder id outside the
// roots: it meets a folder cached as Out, or a cached folder with no parent
// that is not a root. A folder the cache does not reach to a root or to
// such an end is not known to be out.
func (c *Cursor) cachedOut(id string) bool {
	for depth := 0; depth < maxDepth; depth++ {
		if slices.Contains(c.Roots, id) {
			return false
		}
		e, ok := c.Folders[id]
		if !ok {
			return false
		}
		if e.Out || e.Parent == "" {
			return true
		}
		id = e.Parent
	}
	return false
}

// unlisted takes in a file found by listing a folder that left the tracked
// set: a member that is no longer under a root is forgotten.
func (p *pass) unlisted(f *file) error {
	if _, known := p.cur.member(f.ID); !known {
		return nil
	}
	at, err := p.place(f)
	if err != nil || at.in {
		return err
	}
	p.cur.forget(f.ID)
	return nil
}
