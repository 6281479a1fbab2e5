package db

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
)

// Fingerprint is the remembered state of one provider object of a
// connection (table fingerprints): a hash of the fields whose change is
// worth a Signal, and the dedupe key of the last Signal that carried it.
type Fingerprint struct {
	Hash      string
	SignalKey string
}

// Fingerprints returns the stored fingerprints of keys for a connection; a
// key never stored is absent from the map.
func (tx *Tx) Fingerprints(ctx context.Context, connID string, keys []string) (map[string]Fingerprint, error) {
	out := map[string]Fingerprint{}
	if len(keys) == 0 {
		return out, nil
	}
	var rows []struct {
		Key       string `db:"key"`
		Hash      string `db:"hash"`
		SignalKey string `db:"signal_key"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT key, hash, signal_key FROM fingerprints
		WHERE connection_id = $1 AND tenant_id = $2 AND key = ANY($3::text[])`, connID, tx.TenantID, keys); err != nil {
		return nil, wrapConnErr(err)
	}
	for _, r := range rows {
		out[r.Key] = Fingerprint{Hash: r.Hash, SignalKey: r.SignalKey}
	}
	return out, nil
}

// PutFingerprints stores fingerprints for a connection, replacing those of
// the same keys. Call it in the transaction that stores the page they came
// with, after its Signals (the first write must be the Signals' lock).
func (tx *Tx) PutFingerprints(ctx context.Context, connID string, fps map[string]Fingerprint) error {
	if len(fps) == 0 {
		return nil
	}
	keys := slices.Sorted(maps.Keys(fps)) // a stable lock order between writers
	hashes := make([]string, len(keys))
	signalKeys := make([]string, len(keys))
	for i, k := range keys {
		hashes[i], signalKeys[i] = fps[k].Hash, fps[k].SignalKey
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO fingerprints (connection_id, tenant_id, key, hash, signal_key)
		SELECT $1, $2, k, h, s FROM unnest($3::text[], $4::text[], $5::text[]) AS t(k, h, s)
		ON CONFLICT (connection_id, key) DO UPDATE SET hash = EXCLUDED.hash,
			signal_key = EXCLUDED.signal_key, updated_at = now()`,
		connID, tx.TenantID, keys, hashes, signalKeys)
	return wrapConnErr(err)
}

// SignalPayloads returns the payloads of the tenant's stored Signals of
// source with these dedupe keys (as connectors make them, without the
// source prefix); a key not stored, or pruned by retention, is absent.
func (tx *Tx) SignalPayloads(ctx context.Context, source string, keys []string) (map[string]json.RawMessage, error) {
	out := map[string]json.RawMessage{}
	if len(keys) == 0 {
		return out, nil
	}
	full := make([]string, len(keys))
	for i, k := range keys {
		full[i] = source + ":" + k
	}
	var rows []struct {
		Key     string `db:"dedupe_key"`
		Payload []byte `db:"payload"`
	}
	if err := tx.SelectContext(ctx, &rows, `SELECT dedupe_key, payload FROM signals
		WHERE tenant_id = $1 AND dedupe_key = ANY($2::text[])`, tx.TenantID, full); err != nil {
		return nil, wrapConnErr(err)
	}
	for _, r := range rows {
		out[r.Key[len(source)+1:]] = r.Payload
	}
	return out, nil
}
