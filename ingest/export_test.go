package ingest

// PGNumeric exposes pgNumeric to the tests, which check it against
// Postgres itself.
var PGNumeric = pgNumeric
