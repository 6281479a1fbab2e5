// Package gen holds the code go-swagger generates from swagger.yml: the
// payload models (gen/models) and the typed client (gen/client), plus the
// markdown rendering docs/api.md. Do not edit them by hand; change
// swagger.yml and regenerate:
//
//	go generate ./gen
//
// which validates the spec, removes the old output (go-swagger never deletes
// files of removed definitions or operations) and generates again. The
// output is deterministic, so CI can regenerate and run
// `git diff --exit-code -- gen docs/api.md`.
package gen

//go:generate go tool swagger validate --skip-warnings ../swagger.yml
//go:generate rm -rf models client
//go:generate go tool swagger generate client -q -f ../swagger.yml -t . --name poblysh
//go:generate go tool swagger generate markdown -q -f ../swagger.yml --output ../docs/api.md
