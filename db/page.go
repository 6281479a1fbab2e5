package db

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/poblysh/poblysh"
)

// Page is a keyset pagination request: an opaque cursor and a limit.
type Page struct {
	Cursor string
	Limit  int
}

// pageKey is the position after which the next page starts.
type pageKey struct {
	Time time.Time `json:"t"`
	ID   string    `json:"i"`
}

// afterKey is a decoded cursor as SQL parameters (nil on the first page).
type afterKey struct {
	Time *time.Time
	ID   *string
}

// decode validates the cursor completely, so that whatever a client sends
// is either a 400 here or a position every list query accepts: the id is
// re-formatted in canonical form (uuid.Parse also reads forms Postgres
// does not, such as "urn:uuid:…"), and the time is one encoding/json read
// from RFC 3339 (years 0000–9999, inside Postgres's timestamptz range).
func (p Page) decode() (afterKey, error) {
	if p.Cursor == "" {
		return afterKey{}, nil
	}
	bad := poblysh.Invalid("cursor is not valid", map[string]string{"cursor": "not a cursor returned by this API"})
	b, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return afterKey{}, bad
	}
	var k pageKey
	if json.Unmarshal(b, &k) != nil || k.ID == "" {
		return afterKey{}, bad
	}
	id, err := uuid.Parse(k.ID)
	if err != nil {
		return afterKey{}, bad
	}
	canonical := id.String()
	return afterKey{Time: &k.Time, ID: &canonical}, nil
}

// encodePageKey writes k as a cursor. A time RFC 3339 cannot write (a
// year past 9999) fails: no row the service stores has one (ingest bounds
// a Signal's time to year 9999 as stored), and an empty cursor would end
// the pages with rows left.
func encodePageKey(k pageKey) (string, error) {
	b, err := json.Marshal(k)
	if err != nil {
		return "", fmt.Errorf("db: the page cannot end at %s (%s): its cursor cannot be written: %w",
			k.Time.UTC().Format(time.RFC3339Nano), k.ID, err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// trimPage cuts a limit+1 result to limit rows and returns the cursor of the
// next page ("" on the last page).
func trimPage[T any](rows []T, limit int, key func(T) pageKey) ([]T, string, error) {
	if len(rows) <= limit {
		return rows, "", nil
	}
	rows = rows[:limit]
	next, err := encodePageKey(key(rows[len(rows)-1]))
	if err != nil {
		return nil, "", err
	}
	return rows, next, nil
}
