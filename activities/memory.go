package activities

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/poblysh/poblysh"
	"github.com/poblysh/poblysh/connectors"
	"github.com/poblysh/poblysh/db"
)

// memory is a connection's connectors.Memory for one page: fingerprints
// and stored Signals, each read in a short transaction of the tenant. What
// the page remembers is written by SyncPage with its Signals.
type memory struct {
	db  *db.DB
	ref poblysh.ConnectionRef
}

// Fingerprints implements connectors.Memory.
func (m memory) Fingerprints(ctx context.Context, keys []string) (map[string]connectors.Fingerprint, error) {
	out := map[string]connectors.Fingerprint{}
	err := m.db.WithTenant(ctx, m.ref.TenantID, func(tx *db.Tx) error {
		fps, err := tx.Fingerprints(ctx, m.ref.ConnectionID, keys)
		for k, f := range fps {
			out[k] = connectors.Fingerprint{Hash: f.Hash, SignalKey: f.SignalKey}
		}
		return err
	})
	return out, err
}

// Signals implements connectors.Memory.
func (m memory) Signals(ctx context.Context, keys []string) (map[string]connectors.Payload, error) {
	out := map[string]connectors.Payload{}
	err := m.db.WithTenant(ctx, m.ref.TenantID, func(tx *db.Tx) error {
		payloads, err := tx.SignalPayloads(ctx, m.ref.Provider, keys)
		if err != nil {
			return err
		}
		for k, raw := range payloads {
			var p connectors.Payload
			if err := json.Unmarshal(raw, &p); err != nil {
				return fmt.Errorf("stored Signal %s: %w", k, err)
			}
			out[k] = p
		}
		return nil
	})
	return out, err
}

// fingerprints converts a page's fingerprints for storage.
func fingerprints(in map[string]connectors.Fingerprint) map[string]db.Fingerprint {
	out := make(map[string]db.Fingerprint, len(in))
	for k, f := range in {
		out[k] = db.Fingerprint{Hash: f.Hash, SignalKey: f.SignalKey}
	}
	return out
}
