package api

import (
	"net/http"

	"github.com/poblysh/poblysh/connectors"
)

type providerJSON struct {
	Name         string   `json:"name"`
	DisplayName  string   `json:"display_name"`
	Description  string   `json:"description"`
	Auth         string   `json:"auth"`
	Capabilities []string `json:"capabilities"`
	SignalKinds  []string `json:"signal_kinds"`
	Configured   bool     `json:"configured"`
	Scopes       []string `json:"scopes"`
}

func handleProviderList(reg *connectors.Registry) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		out := make([]providerJSON, 0, len(reg.Names()))
		for _, p := range reg.Providers() {
			caps := make([]string, 0, len(p.Spec.Capabilities))
			for _, c := range p.Spec.Capabilities {
				caps = append(caps, string(c))
			}
			out = append(out, providerJSON{
				Name: p.Spec.Name, DisplayName: p.Spec.DisplayName, Description: p.Spec.Description, Auth: "oauth2",
				Capabilities: caps, SignalKinds: append([]string{}, p.Spec.Kinds...), Configured: p.Configured(),
				Scopes: p.Scopes(),
			})
		}
		writeJSON(w, http.StatusOK, map[string]any{"providers": out, "next_cursor": nil})
	})
}
