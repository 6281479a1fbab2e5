package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/poblysh/poblysh/sandbox"
	_ "github.com/poblysh/poblysh/sandbox/all" // every provider's fake, with its demo hook
)

// provider is one connection the demo makes: a registered fake with a demo
// hook, served at url.
type provider struct {
	name string
	url  string
	demo sandbox.Demo
}

// parseSandboxes reads -sandbox ("name=url,name=url", what `poblysh
// sandbox` writes as POBLYSH_SANDBOX_URLS).
func parseSandboxes(v string) (map[string]string, error) {
	out, err := sandbox.ParseURLs(v)
	if err != nil {
		return nil, fmt.Errorf("-sandbox: %w", err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-sandbox is empty: pass the fakes as name=url pairs (POBLYSH_SANDBOX_URLS, written by poblysh sandbox)")
	}
	return out, nil
}

// providers are the running fakes that take part in the demo, in name
// order: each registered fake that implements sandbox.Demoer. The others
// are named and skipped.
func (d *demo) providers() ([]provider, error) {
	names := make([]string, 0, len(d.opts.sandboxes))
	for n := range d.opts.sandboxes {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []provider
	for _, n := range names {
		// A local instance only to read the hook: the activity goes to
		// the running fake at its URL.
		f, err := sandbox.New(n, sandbox.Options{})
		if err != nil {
			d.printf("           %-16s skipped: %v\n", n, err)
			continue
		}
		dm, ok := f.(sandbox.Demoer)
		if !ok {
			d.printf("           %-16s skipped: its fake has no demo hook (sandbox.Demoer)\n", n)
			continue
		}
		out = append(out, provider{name: n, url: d.opts.sandboxes[n], demo: dm.Demo()})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no fake with a demo hook among %s", strings.Join(names, ", "))
	}
	return out, nil
}

// liveWant is a Signal the live activity must produce.
type liveWant struct {
	source, kind string
	at           time.Time // when the activity was created
}

// liveActivity runs each provider's demo hook, which creates one happening
// in its fake through the control API (the fake then delivers the
// provider's webhook or push notification), and returns the Signals to
// wait for. Each title carries the run's marker so the feed can recognise
// them.
func (d *demo) liveActivity(ctx context.Context, ps []provider) ([]liveWant, error) {
	var wants []liveWant
	for _, p := range ps {
		at := time.Now()
		act, err := p.demo.Activity(ctx, d.http, p.url, d.marker)
		if err != nil {
			return nil, fmt.Errorf("%s demo activity: %w", p.name, err)
		}
		d.printf("%s  %-16s %s\n", d.since(), p.name, act.Description)
		wants = append(wants, liveWant{p.name, act.Kind, at})
	}
	return wants, nil
}
