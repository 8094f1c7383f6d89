package llm

// Optional is implemented by a model client that can be without a chat model for a while: the
// app's LLM mode in auto, passages until a server with the chat model answers, and back.
type Optional interface {
	Available() bool
}

// Usable reports whether client can be called now: it is not nil and, when it is Optional,
// available. Roles check it per message (generate, compose, memory), never once at start.
func Usable(client any) bool {
	if client == nil {
		return false
	}
	if o, ok := client.(Optional); ok {
		return o.Available()
	}
	return true
}
