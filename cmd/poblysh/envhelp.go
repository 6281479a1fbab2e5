package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/poblysh/poblysh/config"
	"github.com/poblysh/poblysh/connectors"
)

// envRead returns the environment variables a process that loads the
// configuration with need (and, with providers, builds every registered
// connector) reads, found by recording what it asks for, so the list in
// --help cannot drift from the code: the service's own, and the
// providers' by provider.
func envRead(need config.Needs, providers bool) (own []string, byProvider map[string][]string) {
	seen := map[string]bool{"POBLYSH_ENV_FILE": true} // read by run() itself
	record := func(k string) string { seen[k] = true; return "" }
	_, _ = config.Load(record, need)
	for k := range seen {
		own = append(own, k)
	}
	sort.Strings(own)
	if !providers {
		return own, nil
	}
	byProvider = map[string][]string{}
	for _, s := range connectors.Registered() {
		got := map[string]bool{}
		_, _ = connectors.LoadConfig(s, func(k string) string {
			if !seen[k] {
				got[k] = true
			}
			return ""
		}, "", false)
		for k := range got {
			byProvider[s.Name] = append(byProvider[s.Name], k)
		}
		sort.Strings(byProvider[s.Name])
	}
	return own, byProvider
}

// printEnv writes the environment section of a command's --help.
func printEnv(w io.Writer, need config.Needs, providers bool) {
	own, byProvider := envRead(need, providers)
	fmt.Fprintln(w, "\nEnvironment (real variables win over ./.env; defaults and meaning in .env.example):")
	printWrapped(w, own)
	names := make([]string, 0, len(byProvider))
	for n := range byProvider {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(w, "\n%s (docs/providers/%s.md):\n", n, n)
		printWrapped(w, byProvider[n])
	}
}

func printWrapped(w io.Writer, names []string) {
	line := " "
	for _, n := range names {
		if len(line)+1+len(n) > 80 && strings.TrimSpace(line) != "" {
			fmt.Fprintln(w, line)
			line = " "
		}
		line += " " + n
	}
	if strings.TrimSpace(line) != "" {
		fmt.Fprintln(w, line)
	}
}
