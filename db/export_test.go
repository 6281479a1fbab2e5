package db

import "github.com/jackc/pgx/v5"

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
