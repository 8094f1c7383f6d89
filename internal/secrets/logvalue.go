package secrets

import "log/slog"

// LogValue keeps a channel's credentials out of slog output: String and GoString cover fmt, but
// slog's JSON handler would marshal the fields.
func (c ChannelCredentials) LogValue() slog.Value { return slog.StringValue(c.String()) }
