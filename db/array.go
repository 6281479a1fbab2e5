package db

import (
	"fmt"

	"github.com/jackc/pgx/v5/pgtype"
)

// TextArray is a text[] column read through database/sql. pgx takes a
// []string (and a []time.Time) as a query argument directly, but before Go
// 1.27 database/sql cannot hand a column to the driver's own scanner, so a
// plain []string field cannot receive an array: this type lets pgx's pgtype
// parse it. Its underlying type is []string, so callers use it as one.
type TextArray []string

// Scan implements sql.Scanner for the array's text form ("{a,"b c"}").
func (a *TextArray) Scan(src any) error {
	var out []string
	// A Map is cheap to create (a few empty maps over pgx's shared defaults)
	// and is not safe for concurrent use, so each scan takes its own.
	if err := pgtype.NewMap().SQLScanner(&out).Scan(src); err != nil {
		return fmt.Errorf("db: scan text[]: %w", err)
	}
	*a = out
	return nil
}
