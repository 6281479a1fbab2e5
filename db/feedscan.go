package db

import (
	"encoding/binary"
	"encoding/hex"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// The feed's page is decoded here from the wire rather than through
// pgx's generic Scan: a page of 100 rows of signalCols went through
// about 1,000 scan plans and 700 allocations, a visible share of a feed
// request's CPU (docs/performance.md, change 14). collectSignals reads the
// binary values of signalCols itself, with one string per row for its text
// columns and one buffer per page for the payloads, and gives the very
// values Scan gives (TestCollectSignalsMatchesScan). Rows in any other
// shape (another column type or format, a NULL where the schema has none,
// a timestamp far from today or infinite) go through scanSignal.

// feedColumns are the type OIDs of signalCols, in order.
var feedColumns = [...]uint32{
	pgtype.UUIDOID, pgtype.UUIDOID, pgtype.UUIDOID, pgtype.TextOID, pgtype.TextOID,
	pgtype.TimestamptzOID, pgtype.TimestamptzOID, pgtype.TextOID, pgtype.Int8OID, pgtype.JSONBOID,
}

// collectSignals reads every row of r (columns signalCols); capacity is
// the page's limit.
func collectSignals(r pgx.Rows, capacity int) ([]Signal, error) {
	defer r.Close()
	jsonb, fast := wireFormat(r.FieldDescriptions())
	out := make([]Signal, 0, min(capacity, 1000))
	var payloads []byte
	for r.Next() {
		var s Signal
		if !fast || !decodeSignal(r.RawValues(), jsonb, &s, &payloads) {
			var err error
			if s, err = scanSignal(r); err != nil {
				return nil, err
			}
		}
		out = append(out, s)
	}
	return out, r.Err()
}

// wireFormat reports whether the columns are signalCols's types with
// uuid, timestamptz and int8 in binary (text and jsonb come in either
// format; pgx asks for text), and the payload's format.
func wireFormat(fds []pgconn.FieldDescription) (jsonb int16, ok bool) {
	if len(fds) != len(feedColumns) {
		return 0, false
	}
	for i, fd := range fds {
		if fd.DataTypeOID != feedColumns[i] {
			return 0, false
		}
		switch fd.DataTypeOID {
		case pgtype.UUIDOID, pgtype.TimestamptzOID, pgtype.Int8OID:
			if fd.Format != pgx.BinaryFormatCode {
				return 0, false
			}
		}
	}
	return fds[len(fds)-1].Format, true
}

// decodeSignal fills s from the values v of signalCols, the payload in
// format jsonb, and reports whether it could; payloads is the page's
// buffer for payload bytes.
func decodeSignal(v [][]byte, jsonb int16, s *Signal, payloads *[]byte) bool {
	for i := range 9 { // every column but payload is NOT NULL
		if v[i] == nil {
			return false
		}
	}
	if len(v[0]) != 16 || len(v[1]) != 16 || len(v[2]) != 16 || len(v[8]) != 8 {
		return false
	}
	occurred, ok := timestamptz(v[5])
	if !ok {
		return false
	}
	ingested, ok := timestamptz(v[6])
	if !ok {
		return false
	}
	var payload []byte
	if p := v[9]; p != nil {
		if jsonb == pgx.BinaryFormatCode { // version 1, then the text
			if len(p) == 0 || p[0] != 1 {
				return false
			}
			p = p[1:]
		}
		if cap(*payloads)-len(*payloads) < len(p) {
			*payloads = make([]byte, 0, max(32<<10, len(p)))
		}
		start := len(*payloads)
		*payloads = append(*payloads, p...)
		payload = (*payloads)[start:len(*payloads):len(*payloads)]
	}
	// The row's text in one string: three UUIDs, source, kind, txid.
	var buf [256]byte
	b := appendUUID(buf[:0], v[0])
	b = appendUUID(b, v[1])
	b = appendUUID(b, v[2])
	b = append(b, v[3]...)
	b = append(b, v[4]...)
	b = append(b, v[7]...)
	text := string(b)
	s.ID, s.TenantID, s.ConnectionID = text[0:36], text[36:72], text[72:108]
	at := 108
	s.Source, at = text[at:at+len(v[3])], at+len(v[3])
	s.Kind, at = text[at:at+len(v[4])], at+len(v[4])
	s.TxID = text[at : at+len(v[7])]
	s.OccurredAt, s.IngestedAt = occurred, ingested
	s.Seq = int64(binary.BigEndian.Uint64(v[8]))
	s.Payload = payload
	return true
}

// appendUUID formats a binary UUID as pgx does (lowercase 8-4-4-4-12).
func appendUUID(b, u []byte) []byte {
	var h [36]byte
	hex.Encode(h[0:8], u[0:4])
	h[8] = '-'
	hex.Encode(h[9:13], u[4:6])
	h[13] = '-'
	hex.Encode(h[14:18], u[6:8])
	h[18] = '-'
	hex.Encode(h[19:23], u[8:10])
	h[23] = '-'
	hex.Encode(h[24:], u[10:16])
	return append(b, h[:]...)
}

// timestamptz decodes a binary timestamptz (microseconds since
// 2000-01-01 UTC) into the time pgx gives (time.Unix: local time zone),
// within 142 years of 2000; ±infinity and anything further go through
// Scan, which knows their rules.
func timestamptz(v []byte) (time.Time, bool) {
	const y2k = 946_684_800 // 2000-01-01 in Unix seconds
	if len(v) != 8 {
		return time.Time{}, false
	}
	us := int64(binary.BigEndian.Uint64(v))
	if us > 1<<52 || us < -(1<<52) {
		return time.Time{}, false
	}
	return time.Unix(y2k+us/1_000_000, us%1_000_000*1_000), true
}
