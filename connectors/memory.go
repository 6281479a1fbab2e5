package connectors

import "context"

// Memory is what the engine remembers of a connection between pages, for
// connectors that must compare a provider object with what they saw
// before: a provider that sends an object's current state only (Google
// Calendar bumps an event's updated time for an RSVP) cannot otherwise tell
// a change worth a Signal from noise. Reads go to Postgres outside the
// page's transaction; writes are Page.Fingerprints, stored with the page.
type Memory interface {
	// Fingerprints returns the stored fingerprints of keys; a key never
	// stored is absent from the map.
	Fingerprints(ctx context.Context, keys []string) (map[string]Fingerprint, error)
	// Signals returns the payloads of the connection's stored Signals with
	// these dedupe keys (as the connector made them, without the provider
	// prefix); a key not stored, or pruned by retention, is absent.
	Signals(ctx context.Context, dedupeKeys []string) (map[string]Payload, error)
}

// Fingerprint is the remembered state of one provider object.
type Fingerprint struct {
	// Hash of the fields whose change is worth a Signal.
	Hash string `json:"hash"`
	// SignalKey is the dedupe key of the last Signal that carried this
	// state, so the object's last known title can be read back.
	SignalKey string `json:"signal_key"`
}
