package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Rate is N requests per Per, in bursts of up to N (a GCRA / token-bucket rule; see package
// ratelimit). The zero Rate never limits. Written "5/10s", or "off".
type Rate struct {
	N   int
	Per time.Duration
}

// Off reports whether the rate never limits.
func (r Rate) Off() bool { return r.N <= 0 || r.Per <= 0 }

// String is the rate as it is configured: "5/10s" or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	return strconv.Itoa(r.N) + "/" + r.Per.String()
}

// ParseRate reads "N/duration" (5/10s, 20/1m, 5/1h) or "off".
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" {
		return Rate{N: -1}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q: want N/duration such as 5/10s, or off", s)
	}
	var r Rate
	var err error
	if r.N, err = strconv.Atoi(strings.TrimSpace(n)); err != nil || r.N <= 0 {
		return Rate{}, fmt.Errorf("%q: want a positive count before the slash", s)
	}
	if r.Per, err = time.ParseDuration(strings.TrimSpace(per)); err != nil || r.Per <= 0 {
		return Rate{}, fmt.Errorf("%q: want a positive duration after the slash", s)
	}
	if r.Per/time.Duration(r.N) <= 0 {
		return Rate{}, fmt.Errorf("%q: more than one per nanosecond", s)
	}
	return r, nil
}

// Limits are the request limits of the gateway (issue 9). Every rate is shared by all gateway
// replicas (kept in PostgreSQL). A zero field takes its default (LimitDefaults); "off" (N < 0)
// turns a rate off.
type Limits struct {
	// TrustedProxies (COACHWIRE_TRUSTED_PROXIES, comma list of addresses and CIDR ranges, default
	// none): X-Forwarded-For is read only from these peers, rightmost untrusted address first.
	TrustedProxies []netip.Prefix

	WidgetMessagesPerSession Rate          // COACHWIRE_LIMIT_WIDGET_MESSAGES, default 5/10s per conversation, all sockets
	WidgetMessagesPerEndUser Rate          // COACHWIRE_LIMIT_WIDGET_MESSAGES_END_USER, default 120/1h per end user
	WidgetSocketsPerSession  int           // COACHWIRE_LIMIT_WIDGET_SOCKETS, default 10 open sockets per conversation
	WidgetSessionsPerIP      Rate          // COACHWIRE_LIMIT_WIDGET_SESSIONS_IP, default 20/1m per client address
	WidgetSessionsPerKey     Rate          // COACHWIRE_LIMIT_WIDGET_SESSIONS_KEY, default 600/1m per widget key
	RegistrationsPerIP       Rate          // COACHWIRE_LIMIT_REGISTER_IP, default 5/1h per client address
	LoginsPerIP              Rate          // COACHWIRE_LIMIT_LOGIN_IP, default 20/1m per client address
	LoginsPerEmailIP         Rate          // COACHWIRE_LIMIT_LOGIN_EMAIL_IP, default 5/1m per (email, client address)
	LoginsPerEmail           Rate          // COACHWIRE_LIMIT_LOGIN_EMAIL, default 10/10m per email from addresses it never logged in from
	LoginTrust               time.Duration // COACHWIRE_LOGIN_TRUST, default 720h: a login exempts its address from the per-email limit this long
}

// LimitDefaults are the limits when none are configured.
var LimitDefaults = Limits{
	WidgetMessagesPerSession: Rate{N: 5, Per: 10 * time.Second},
	WidgetMessagesPerEndUser: Rate{N: 120, Per: time.Hour},
	WidgetSocketsPerSession:  10,
	WidgetSessionsPerIP:      Rate{N: 20, Per: time.Minute},
	WidgetSessionsPerKey:     Rate{N: 600, Per: time.Minute},
	RegistrationsPerIP:       Rate{N: 5, Per: time.Hour},
	LoginsPerIP:              Rate{N: 20, Per: time.Minute},
	LoginsPerEmailIP:         Rate{N: 5, Per: time.Minute},
	LoginsPerEmail:           Rate{N: 10, Per: 10 * time.Minute},
	LoginTrust:               30 * 24 * time.Hour,
}

// WithDefaults fills zero fields from LimitDefaults. A socket cap below zero means no cap.
func (l Limits) WithDefaults() Limits {
	d := LimitDefaults
	for _, f := range []struct{ v, def *Rate }{
		{&l.WidgetMessagesPerSession, &d.WidgetMessagesPerSession}, {&l.WidgetMessagesPerEndUser, &d.WidgetMessagesPerEndUser},
		{&l.WidgetSessionsPerIP, &d.WidgetSessionsPerIP}, {&l.WidgetSessionsPerKey, &d.WidgetSessionsPerKey},
		{&l.RegistrationsPerIP, &d.RegistrationsPerIP}, {&l.LoginsPerIP, &d.LoginsPerIP},
		{&l.LoginsPerEmailIP, &d.LoginsPerEmailIP}, {&l.LoginsPerEmail, &d.LoginsPerEmail},
	} {
		if *f.v == (Rate{}) {
			*f.v = *f.def
		}
	}
	if l.WidgetSocketsPerSession == 0 {
		l.WidgetSocketsPerSession = d.WidgetSocketsPerSession
	}
	if l.LoginTrust <= 0 {
		l.LoginTrust = d.LoginTrust
	}
	return l
}

// ParseTrustedProxies reads a comma list of addresses and CIDR ranges.
func ParseTrustedProxies(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, p := range splitList(s) {
		if pf, err := netip.ParsePrefix(p); err == nil {
			out = append(out, pf.Masked())
			continue
		}
		a, err := netip.ParseAddr(p)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an address nor a CIDR range", p)
		}
		a = a.Unmap()
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// parseLimits reads the COACHWIRE_LIMIT_* settings through env, adding any error to errs.
func parseLimits(env func(k, def string) string, dur func(string, time.Duration) time.Duration, errs *[]error) Limits {
	rate := func(k string) Rate {
		v := env(k, "")
		if v == "" {
			return Rate{}
		}
		r, err := ParseRate(v)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s=%w", k, err))
		}
		return r
	}
	l := Limits{
		WidgetMessagesPerSession: rate("COACHWIRE_LIMIT_WIDGET_MESSAGES"),
		WidgetMessagesPerEndUser: rate("COACHWIRE_LIMIT_WIDGET_MESSAGES_END_USER"),
		WidgetSessionsPerIP:      rate("COACHWIRE_LIMIT_WIDGET_SESSIONS_IP"),
		WidgetSessionsPerKey:     rate("COACHWIRE_LIMIT_WIDGET_SESSIONS_KEY"),
		RegistrationsPerIP:       rate("COACHWIRE_LIMIT_REGISTER_IP"),
		LoginsPerIP:              rate("COACHWIRE_LIMIT_LOGIN_IP"),
		LoginsPerEmailIP:         rate("COACHWIRE_LIMIT_LOGIN_EMAIL_IP"),
		LoginsPerEmail:           rate("COACHWIRE_LIMIT_LOGIN_EMAIL"),
		LoginTrust:               dur("COACHWIRE_LOGIN_TRUST", LimitDefaults.LoginTrust),
	}
	if v := env("COACHWIRE_LIMIT_WIDGET_SOCKETS", ""); v != "" {
		n, err := strconv.Atoi(v)
		switch {
		case v == "off":
			l.WidgetSocketsPerSession = -1
		case err != nil || n <= 0:
			*errs = append(*errs, fmt.Errorf("COACHWIRE_LIMIT_WIDGET_SOCKETS=%q: want a positive count or off", v))
		default:
			l.WidgetSocketsPerSession = n
		}
	}
	var err error
	if l.TrustedProxies, err = ParseTrustedProxies(env("COACHWIRE_TRUSTED_PROXIES", "")); err != nil {
		*errs = append(*errs, fmt.Errorf("COACHWIRE_TRUSTED_PROXIES: %w", err))
	}
	return l.WithDefaults()
}
