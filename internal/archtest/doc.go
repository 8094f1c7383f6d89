// Package archtest holds the architecture test (arch_test.go): it reads the import graph of
// every package of the module with `go list` (non-test imports only) and fails when an import
// breaks one of the layer rules written in docs/architecture.md, "Layers":
//
//   - events: events/ (and its subpackages) imports nothing under internal/.
//   - roles: no role package (gateway, ingest, retrieve, generate, nudge, dispatch, each with
//     its subpackages) imports another role.
//   - db-bus: internal/db imports no bus package (internal/bus, NATS, watermill).
//   - role-builders: only internal/app (and cmd/...) imports role packages.
//   - layers: cmd → app → roles → domain → infrastructure → contract; a package imports only
//     its own layer or lower ones, every package of the module is placed in a layer, and test
//     support packages are imported by no production package.
//
// The package has no non-test code; the layer lists live in arch_test.go, next to the rules.
package archtest
