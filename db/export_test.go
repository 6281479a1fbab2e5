package db

import (
	"context"
	"net"
	"time"

	"github.com/jackc/pgx/v5"
)

// Hooks for the external tests.

// DecodeSignalForTest is decodeSignal for a row of rows, with a fresh
// payload buffer; false also when the columns' formats are not known.
func DecodeSignalForTest(rows pgx.Rows) (Signal, bool) {
	var s Signal
	var payloads []byte
	jsonb, ok := wireFormat(rows.FieldDescriptions())
	return s, ok && decodeSignal(rows.RawValues(), jsonb, &s, &payloads)
}

// ScanSignal is the generic decoder the fast one must agree with.
var ScanSignal = scanSignal

// SignalCols is the feed page's column list.
const SignalCols = signalCols

func PageBelowSetting(fq FeedQuery) (string, []any) { return fq.pageBelowSetting() }

const FeedHorizonSetSQL = feedHorizonSetSQL

// PGNumeric is pgNumeric, checked against Postgres itself.
var PGNumeric = pgNumeric

// MigrateUpToForTest is Migrate stopped after version: the schema as the
// release whose last migration that was left it, for a test to store rows
// in the shape of that release before migrating the rest.
func MigrateUpToForTest(ctx context.Context, url string, version int64) error {
	m, err := openMigrator(ctx, url, "")
	if err != nil {
		return err
	}
	defer m.close()
	_, err = m.provider.UpTo(ctx, version)
	return err
}

// ValidJSON is validJSON, held to json.Valid.
var ValidJSON = validJSON

// OpenJobsSQL and PassRunningSQL are the open-job queries, for their plans.
const (
	OpenJobsSQL    = openJobsSQL
	PassRunningSQL = passRunningSQL
)

// SetAnnouncerForTest replaces d's announcer with one that connects with
// connect and gives up on a NOTIFY after notifyTimeout.
func SetAnnouncerForTest(d *DB, connect func(context.Context) (*pgx.Conn, error), notifyTimeout time.Duration) {
	d.announce.close()
	d.announce = newAnnouncer(connect, notifyTimeout)
}

// FeedDialForTest is how d dials the feed's own sessions (the announcer's
// and the listener's).
func FeedDialForTest(d *DB) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.feedConfig().DialFunc
}

// NewFeedNotifierForTest is NewFeedNotifier with the listener's liveness
// check shortened: a ping after idle without a notification, answered
// within ping.
func NewFeedNotifierForTest(d *DB, idle, ping time.Duration) *FeedNotifier {
	return newFeedNotifier(d, nil, listenerLiveness{idle: idle, ping: ping})
}

// PruneSignalsStatementForTest is the statement with which Prune deletes a
// batch of Signals ingested before before.
func PruneSignalsStatementForTest(before time.Time, batch int) (string, []any) {
	var p Pruned
	steps := pruneSteps(&p, before, &before, before, nil, batch)
	last := steps[len(steps)-1]
	return last.q, last.a
}

// SetKeyNoteHookForTest has n's listener run hook, on its own goroutine,
// before it handles each notification on APIKeysChannel.
func SetKeyNoteHookForTest(n *FeedNotifier, hook func(payload string)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.onKeyNote = hook
}

// PendingFencesForTest is how many of n's fences wait for their
// notification.
func PendingFencesForTest(n *FeedNotifier) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.fences)
}

// FencePrefix starts a fence's payload.
const FencePrefix = fencePrefix
