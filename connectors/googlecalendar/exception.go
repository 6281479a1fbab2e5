package googlecalendar

import (
	"reflect"
	"slices"
	"time"

	"github.com/poblysh/poblysh/connectors"
)

// An exception is one occurrence of a recurring event edited on its own:
// Google lists it as an event of its own, <seriesId>_<original start>, with
// recurringEventId, originalStartTime and its series' created time. The
// connection first sees it when the occurrence is edited, or with its
// series in a full sync; only the first is an edit (normalizeEvent).

// maxNewSeries bounds the series a pass names in its cursor
// (Cursor.NewSeries): a backfill reads every series of the calendar, at
// about 30 bytes an id.
const maxNewSeries = 100

// isNewSeries reports a recurring event this pass read first: its
// exceptions are first sights too.
func (c Cursor) isNewSeries(id string) bool {
	return c.ManyNewSeries || slices.Contains(c.NewSeries, id)
}

// passSeries returns the cursor's new series with those of this page: the
// recurring events the connection did not remember (nor saw before
// fingerprints existed). Past maxNewSeries it stops naming them.
func passSeries(cur Cursor, events []*decoded, priors []prior) ([]string, bool) {
	if cur.ManyNewSeries {
		return nil, true
	}
	ids := cur.NewSeries
	for i, d := range events {
		if len(d.ev.Recurrence) > 0 && priors[i].fp == nil && !priors[i].legacy && !slices.Contains(ids, d.ev.Id) {
			ids = append(ids, d.ev.Id)
		}
	}
	if len(ids) > maxNewSeries {
		return nil, true
	}
	return ids, false
}

// unchangedOccurrence reports an exception whose fields that count (those
// of the fingerprint) are its series' at its original start: same title,
// status, location and description, starting at its original start and as
// long as the series' events. Google makes such an exception for an RSVP,
// a reminder or a colour of that occurrence alone, which is no Signal on
// any other event either.
func unchangedOccurrence(d *decoded, exc, series connectors.Payload) bool {
	if exc.Subject.Name != series.Subject.Name {
		return false
	}
	for _, k := range []string{"status", "all_day", "location", "description", "description_truncated"} {
		if !reflect.DeepEqual(exc.Attributes[k], series.Attributes[k]) {
			return false
		}
	}
	if d.ev.OriginalStartTime == nil || instant(d.ev.Start) != instant(d.ev.OriginalStartTime) {
		return false
	}
	own, ok := span(exc.Attributes)
	if !ok {
		return false
	}
	was, ok := span(series.Attributes)
	return ok && own == was
}

// span is how long an event lasts, from its payload's start and end
// (dates of an all-day event, RFC 3339 times otherwise).
func span(attrs map[string]any) (time.Duration, bool) {
	start, ok1 := attrs["start"].(string)
	end, ok2 := attrs["end"].(string)
	if !ok1 || !ok2 {
		return 0, false
	}
	s, err1 := parseWhen(start)
	e, err2 := parseWhen(end)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return e.Sub(s), true
}

// parseWhen parses what when writes: a date or an RFC 3339 time.
func parseWhen(v string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, v)
}
