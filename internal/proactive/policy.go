package proactive

import (
	"time"
)

// Outcomes and reasons of a policy decision, recorded per recipient.
const (
	OutcomeSent    = "sent"
	OutcomeHeld    = "held"
	OutcomeSkipped = "skipped"

	ReasonOptedOut   = "opted_out"
	ReasonCapped     = "capped"
	ReasonNoTemplate = "no_template"
	ReasonNoChannel  = "no_channel"
	ReasonExpired    = "expired"
	ReasonQuietHours = "quiet_hours"
	ReasonLive       = "live_conversation"
	ReasonLocalTime  = "local_time"
	ReasonPaused     = "paused"
	ReasonCancelled  = "cancelled"
	// ReasonSamePerson: the occurrence was sent to another end user linked into the same person
	// (internal/people): one campaign message per person.
	ReasonSamePerson = "same_person"

	ModeText     = "text"
	ModeTemplate = "template"
)

// Policy is the creator's send rules under the platform's ceilings.
type Policy struct {
	// QuietStart and QuietEnd are minutes of the recipient's local day; equal means no quiet
	// hours; QuietStart > QuietEnd spans midnight (22:00-08:00).
	QuietStart, QuietEnd int
	// CapDay and CapWeek: proactive messages per recipient per local day and per 7 days, across
	// all campaigns and programs (0: only the ceiling).
	CapDay, CapWeek int
	// CeilingDay and CeilingWeek are the platform-wide maximums no creator setting exceeds.
	CeilingDay, CeilingWeek int
	// LiveWindow: a person who wrote within it is in a live conversation and is not interrupted.
	LiveWindow time.Duration
	// WhatsAppWindow is the customer-service window (24 h).
	WhatsAppWindow time.Duration
	// MaxHold: a decision still held this long after the occurrence is skipped as expired.
	MaxHold time.Duration
}

// Recipient is what the policy knows about one end user at decision time.
type Recipient struct {
	Zone          *time.Location
	Channel       string
	HasChannel    bool // a channel to send on (widget: always)
	OptedOut      bool
	LastInboundAt *time.Time // the person's last message (any channel)
	HasTemplate   bool       // WhatsApp: the channel has an approved template
	// SentDay and SentWeek count proactive messages already sent to the person in their current
	// local day and in the last 7 days.
	SentDay, SentWeek int
	// Awaited: the person is waiting for this message (a program's first step, right after they
	// enrolled, often by typing its keyword): it is no interruption of their live conversation.
	Awaited bool
}

// Decision is the verdict for one (occurrence, recipient).
type Decision struct {
	Outcome   string
	Reason    string
	Mode      string    // sent: text or template
	HoldUntil time.Time // held
}

// Decide is the one function deciding every proactive send. Order: opted out, expired, not yet
// the recipient's local time, quiet hours, live conversation, frequency caps, channel rules.
// Holding never loses a message: a held decision is decided again at HoldUntil.
func Decide(p Policy, r Recipient, now, notBefore, occurredAt time.Time) Decision {
	if r.OptedOut {
		return Decision{Outcome: OutcomeSkipped, Reason: ReasonOptedOut}
	}
	if !r.HasChannel {
		return Decision{Outcome: OutcomeSkipped, Reason: ReasonNoChannel}
	}
	if p.MaxHold > 0 && now.Sub(LaterOf(occurredAt, notBefore)) > p.MaxHold {
		return Decision{Outcome: OutcomeSkipped, Reason: ReasonExpired}
	}
	if now.Before(notBefore) {
		return Decision{Outcome: OutcomeHeld, Reason: ReasonLocalTime, HoldUntil: notBefore}
	}
	zone := r.Zone
	if zone == nil {
		zone = time.UTC
	}
	if until, quiet := QuietUntil(p.QuietStart, p.QuietEnd, now.In(zone)); quiet {
		return Decision{Outcome: OutcomeHeld, Reason: ReasonQuietHours, HoldUntil: until.UTC()}
	}
	if p.LiveWindow > 0 && !r.Awaited && r.LastInboundAt != nil && now.Sub(*r.LastInboundAt) < p.LiveWindow {
		return Decision{Outcome: OutcomeHeld, Reason: ReasonLive, HoldUntil: r.LastInboundAt.Add(p.LiveWindow).UTC()}
	}
	if capDay := effectiveCap(p.CapDay, p.CeilingDay); capDay >= 0 && r.SentDay >= capDay {
		return Decision{Outcome: OutcomeSkipped, Reason: ReasonCapped}
	}
	if capWeek := effectiveCap(p.CapWeek, p.CeilingWeek); capWeek >= 0 && r.SentWeek >= capWeek {
		return Decision{Outcome: OutcomeSkipped, Reason: ReasonCapped}
	}
	if r.Channel == "whatsapp" {
		window := p.WhatsAppWindow
		if window == 0 {
			window = 24 * time.Hour
		}
		if r.LastInboundAt != nil && now.Sub(*r.LastInboundAt) < window {
			return Decision{Outcome: OutcomeSent, Mode: ModeText}
		}
		if r.HasTemplate {
			return Decision{Outcome: OutcomeSent, Mode: ModeTemplate}
		}
		return Decision{Outcome: OutcomeSkipped, Reason: ReasonNoTemplate}
	}
	return Decision{Outcome: OutcomeSent, Mode: ModeText}
}

// effectiveCap is the creator's cap bounded by the ceiling; -1 means no limit at all.
func effectiveCap(creator, ceiling int) int {
	switch {
	case creator > 0 && ceiling > 0:
		return min(creator, ceiling)
	case creator > 0:
		return creator
	case ceiling > 0:
		return ceiling
	}
	return -1
}

func LaterOf(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// QuietUntil reports whether local (a time in the recipient's zone) is inside the quiet window
// [start, end) given in minutes of the day, and when the window opens again.
func QuietUntil(start, end int, local time.Time) (time.Time, bool) {
	if start == end {
		return time.Time{}, false
	}
	m := local.Hour()*60 + local.Minute()
	var quiet bool
	if start < end {
		quiet = m >= start && m < end
	} else { // spans midnight
		quiet = m >= start || m < end
	}
	if !quiet {
		return time.Time{}, false
	}
	y, mo, d := local.Date()
	day := time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)
	if start > end && m >= start {
		day = day.AddDate(0, 0, 1) // the window opens tomorrow morning
	}
	return Resolve(day.Add(time.Duration(end)*time.Minute), local.Location()), true
}

// DayStart is the start of local's calendar day (for the daily cap), as an instant.
func DayStart(local time.Time) time.Time {
	y, m, d := local.Date()
	return Resolve(time.Date(y, m, d, 0, 0, 0, 0, time.UTC), local.Location())
}
