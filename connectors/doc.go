// Package connectors is the provider framework: a small core Connector
// interface, optional capability interfaces discovered by type assertion
// (OAuth, sync streams, webhooks, watch channels, configuration checks), the
// registry providers join with one line, the provider-neutral errors every
// provider must return, the Signal kind catalog, and shared HTTP plumbing
// (rate-limit header parsing, status classification, per-account limiters).
//
// Providers live in connectors/<name>, import this package only, and register
// themselves in init:
//
//	func init() { connectors.MustRegister(Spec) }
//
// connectors/all blank-imports every provider; adding a provider is a new
// package plus one line there. See connectortest for the conformance suite.
package connectors
