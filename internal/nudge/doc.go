// Package nudge is the nudge target: the scheduler that claims due campaign occurrences and
// program enrollments and expands them into one recipient event each, and the worker that
// decides recipients in batches with the send policy of internal/proactive and hands the
// messages to dispatch.
package nudge
