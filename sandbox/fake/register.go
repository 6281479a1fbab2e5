package fake

import "github.com/poblysh/poblysh/sandbox"

// Name is the provider the fake plays (the engine's test provider).
const Name = "fake"

// The fake registers itself like every other, but sandbox/all does not
// import it: it is linked in with its connector (connectors/fake imports
// this package), so it runs wherever the engine's test provider is served
// (tests, benchmarks, a binary built with -tags fakeprovider).
func init() { sandbox.Register(Name, newFake) }

// newFake maps the uniform sandbox options onto this fake's own: Seed
// gives the default stream (25 items), no seed an empty one. It has no
// named faults (inject them through Faults and TokenFaults).
func newFake(o sandbox.Options) (sandbox.Fake, error) {
	if err := sandbox.CheckFaults(Name, o.Faults); err != nil {
		return nil, err
	}
	opts := Options{ClientID: o.ClientID, ClientSecret: o.ClientSecret, WebhookSecret: o.WebhookSecret, AccessTTL: o.AccessTTL}
	if !o.Seed {
		opts.Streams = map[string]int{"items": 0}
	}
	s := New(opts)
	s.Deliverer.SetTarget(sandbox.WebhookURL(o.DeliverTo, Name))
	return s, nil
}
