package gmail

import (
	"fmt"

	"github.com/poblysh/poblysh/connectors"
)

// threadRead is a thread as threads.get answered it in this pass.
type threadRead struct {
	msgs []*message
	err  error
}

// thread reads a thread once per pass: the start of a thread and its
// press Signal share the read.
func (p *pass) thread(id string) ([]*message, error) {
	if t, ok := p.threads[id]; ok {
		return t.msgs, t.err
	}
	msgs, err := p.c.getThread(p.ctx, p.hc, id)
	if p.threads == nil {
		p.threads = map[string]threadRead{}
	}
	p.threads[id] = threadRead{msgs: msgs, err: err}
	return msgs, err
}

// startedKey is the dedupe key of a thread's email.thread_started.
func (p *pass) startedKey(threadID string) string {
	return "thread:" + p.key + ":" + threadID + ":started"
}

// recallStarted marks the threads of msgs' replies whose
// email.thread_started the connection stored (one read of the memory per
// page), so that a reply in them reads no thread.
func (p *pass) recallStarted(msgs []*message) error {
	if p.mem == nil {
		return nil
	}
	var want []string
	for _, m := range msgs {
		if m.ID != m.ThreadID {
			want = append(want, p.startedKey(m.ThreadID))
		}
	}
	if len(want) == 0 {
		return nil
	}
	stored, err := p.mem.Signals(p.ctx, want)
	if err != nil {
		return fmt.Errorf("read stored thread starts: %w", err)
	}
	for _, m := range msgs {
		if _, ok := stored[p.startedKey(m.ThreadID)]; ok {
			p.started[m.ThreadID] = true
		}
	}
	return nil
}

// threadStarted emits, in an incremental pass, the start of the thread of
// a reply m whose start the connection has not stored. It is the thread's
// first message (threads.get: drafts, Spam and Trash left out) when a
// stream of the connection reads that message too (it carries a followed
// label and is within the backfill window), so it is the same Signal
// whichever stream or message finds the thread first: the INBOX stream
// may read a partner's reply before the SENT stream reads the user's
// message it answers. Otherwise (the thread began outside the labels or
// the window, or cannot be read) m starts it for the connection.
func (p *pass) threadStarted(m *message) error {
	if p.started[m.ThreadID] {
		return nil
	}
	first := m
	msgs, err := p.thread(m.ThreadID)
	switch {
	case connectors.Kind(err) == connectors.ErrNotFound:
	case err != nil:
		return err
	default:
		if f := firstMail(msgs); f != nil && p.readsItself(f) {
			first = f
		}
	}
	p.addStarted(first)
	return nil
}

// readsItself reports a message that some stream of the connection reads
// by itself: it carries a followed label and arrived within the backfill
// window, so its backfill or an incremental pass reads it.
func (p *pass) readsItself(m *message) bool {
	if internalDate(m).Before(p.now.AddDate(0, 0, -p.c.backfillWindow(p.cfg))) {
		return false
	}
	for _, l := range p.cfg.Labels {
		if contains(m.LabelIDs, l) {
			return true
		}
	}
	return false
}

// firstMail is the earliest message of a thread that is mail (no draft,
// nothing in Spam or Trash), nil when none is.
func firstMail(msgs []*message) *message {
	var first *message
	for _, m := range msgs {
		if m == nil || notMail(m.LabelIDs) {
			continue
		}
		if first == nil || internalDate(m).Before(internalDate(first)) {
			first = m
		}
	}
	return first
}

// addStarted emits email.thread_started described by m, the message that
// starts the thread.
func (p *pass) addStarted(m *message) {
	subject := subjectOf(m)
	at := internalDate(m)
	if at.IsZero() {
		at = p.now
	}
	p.add(KindThreadStarted, at, p.startedKey(m.ThreadID), "New thread: "+subject,
		connectors.Ref{Type: "thread", ID: m.ThreadID, Name: subject}, p.payload(m, nil), scrub(m))
	p.started[m.ThreadID] = true
}
