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

// helpCryptoKey is a valid key (base64 of 32 zero bytes) the recording in
// envRead answers for POBLYSH_CRYPTO_KEY: the retired keys are read only
// after the current key parses.
const helpCryptoKey = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="

// envRead returns the environment variables a process that loads the
// configuration with need (and, with providers, builds every registered
// connector) reads, found by recording what it asks for, so the list in
// --help cannot drift from the code: the service's own, and the
// providers' by provider. The recording answers "" but for the values a
// later read depends on (a valid crypto key), and builds each provider as
// the command does (connectors.Build: its settings, then its New, which
// reads the provider's own settings). A provider's documented Settings
// are listed too: some are read only when a call needs them (a Zoho data
// centre's client secret, CLIENT_SECRET_<DC>), with the fallback prefix
// every setting is also read under (POBLYSH_GOOGLE_*, POBLYSH_ZOHO_*).
func envRead(need config.Needs, providers bool) (own []string, byProvider map[string][]string) {
	seen := map[string]bool{"POBLYSH_ENV_FILE": true} // read by run() itself
	record := func(k string) string {
		seen[k] = true
		if k == "POBLYSH_CRYPTO_KEY" {
			return helpCryptoKey
		}
		return ""
	}
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
		// A shared variable the provider ignores (Setting.NoFallback) is
		// looked at only to say so at start: it is not one it reads.
		ignored := map[string]bool{}
		for _, st := range s.Settings {
			if st.NoFallback && s.EnvFallback != "" {
				ignored["POBLYSH_"+s.EnvFallback+"_"+st.Suffix] = true
			}
		}
		add := func(k string) {
			if !seen[k] && !ignored[k] {
				got[k] = true
			}
		}
		_, _ = connectors.Build([]*connectors.Spec{s}, func(k string) string { add(k); return "" }, "http://127.0.0.1:8080", true)
		for _, st := range s.Settings {
			add("POBLYSH_" + s.EnvName() + "_" + st.Suffix)
			if s.EnvFallback != "" {
				add("POBLYSH_" + s.EnvFallback + "_" + st.Suffix)
			}
		}
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
	fmt.Fprintln(w, "\nEnvironment (a variable set, even empty, wins over ./.env; defaults and meaning\nin .env.example):")
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
