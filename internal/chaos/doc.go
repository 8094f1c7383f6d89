// Package chaos holds the chaos suite (TestChaos): every coachwire target as its own OS process
// on a real NATS (JetStream, file storage, itself a restartable process), PostgreSQL and
// Weaviate, with loopback Ollama, WhatsApp and Telegram doubles, under steady mixed load while
// faults are injected in turn. It reports, per fault, what was accepted, answered, lost and
// duplicated. `make chaos CHAOS_DURATION=10m` runs it long; `make test` runs it for 60 seconds.
// See docs/operations.md, "Chaos suite".
//
// The package has no non-test code.
package chaos
