package retrieve

// In-chat commands: an end user can ask to see or erase what the coach remembers about them,
// and join a drip program by sending its keyword. These are answered here, with fixed text and
// without the chat model, on every channel (widget, WhatsApp, Telegram).

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/events"
	"github.com/coachwire/coachwire/internal/bus"
	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/ids"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Command is an end user's request about their own data, recognised in a chat message.
type Command int

const (
	// NoCommand: an ordinary message for the coach.
	NoCommand Command = iota
	// ShowMemory: "what do you remember about me", /memory.
	ShowMemory
	// ForgetMemory: "forget me", /forget.
	ForgetMemory
)

func (c Command) String() string {
	switch c {
	case ShowMemory:
		return "show_memory"
	case ForgetMemory:
		return "forget_memory"
	}
	return "none"
}

// commandPhrases are the whole messages (normalised: lower case, punctuation dropped, single
// spaces) that are commands. The list is deliberately small: anything else, including longer
// sentences that merely contain these words, goes to the coach.
var commandPhrases = map[string]Command{
	"what do you remember about me":      ShowMemory,
	"what do you know about me":          ShowMemory,
	"what have you remembered about me":  ShowMemory,
	"show my memory":                     ShowMemory,
	"show me my memory":                  ShowMemory,
	"show me what you remember":          ShowMemory,
	"show me what you remember about me": ShowMemory,

	"forget me":                         ForgetMemory,
	"forget about me":                   ForgetMemory,
	"forget everything about me":        ForgetMemory,
	"forget what you know about me":     ForgetMemory,
	"forget what you remember about me": ForgetMemory,
	"erase my memory":                   ForgetMemory,
	"delete my memory":                  ForgetMemory,
	"clear my memory":                   ForgetMemory,
}

// slashCommands are the Telegram-style commands (also accepted on the other channels).
var slashCommands = map[string]Command{"memory": ShowMemory, "forget": ForgetMemory}

// maxCommandLen bounds what is examined at all: commands are short.
const maxCommandLen = 80

// MatchCommand reports whether text, as a whole, is a memory command. Matching ignores case,
// punctuation, extra spaces and a leading or trailing "please"; Telegram's "/memory@MyBot"
// form is accepted.
func MatchCommand(text string) Command {
	t := strings.TrimSpace(text)
	if t == "" || len(t) > maxCommandLen {
		return NoCommand
	}
	if rest, ok := strings.CutPrefix(t, "/"); ok {
		name, _, _ := strings.Cut(rest, "@") // /memory@CoachBot in a group
		return slashCommands[strings.ToLower(name)]
	}
	n := normalize(t)
	n = strings.TrimPrefix(n, "please ")
	n = strings.TrimSuffix(n, " please")
	return commandPhrases[n]
}

// normalize lowers text, drops apostrophes, turns other punctuation and symbols into spaces and
// collapses spaces.
func normalize(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\'' || r == '’' || r == '`':
			return -1
		case unicode.IsPunct(r) || unicode.IsSymbol(r):
			return ' '
		}
		return unicode.ToLower(r)
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

// maxKeywordLen bounds a message that may be a program keyword (the lookup is skipped for
// anything longer).
const maxKeywordLen = 64

// ProgramKeyword returns the text to look up as a program keyword: the whole message, trimmed,
// when it is short and on one line; "" otherwise. The lookup is case-insensitive.
func ProgramKeyword(text string) string {
	t := strings.TrimSpace(text)
	if t == "" || utf8.RuneCountInString(t) > maxKeywordLen || strings.ContainsAny(t, "\r\n") {
		return ""
	}
	return t
}

// Answers to commands.
const (
	memoryEmptyAnswer  = "I don't remember anything about you yet."
	forgetAnswer       = "Done: I've erased everything I remembered about you (your goals, preferences, commitments and facts). The messages of this conversation are kept."
	memoryGroupAnswer  = "For your privacy I only show what I remember about you in a private chat. Send /forget to erase it."
	forgetEmptyAnswer  = "There was nothing to erase: I don't remember anything about you yet."
	memoryFooter       = "Send /forget if you'd like me to erase it."
	enrolledOptOutNote = " You're unsubscribed from our messages at the moment: send START to receive the program's messages."
)

// MemoryAnswer is the readable list of a profile, or memoryEmptyAnswer.
func MemoryAnswer(p memory.Profile) string {
	var b strings.Builder
	for _, sec := range []struct {
		title string
		items []string
	}{{"Your goals", p.Goals}, {"Your preferences", p.Preferences}, {"Your commitments", p.Commitments}, {"About you", p.Facts}} {
		var items []string
		for _, it := range sec.items {
			if it = strings.TrimSpace(it); it != "" {
				items = append(items, it)
			}
		}
		if len(items) == 0 {
			continue
		}
		if b.Len() == 0 {
			b.WriteString("Here's what I remember about you:\n")
		}
		b.WriteString("\n" + sec.title + ":\n")
		for _, it := range items {
			b.WriteString("- " + it + "\n")
		}
	}
	if b.Len() == 0 {
		return memoryEmptyAnswer
	}
	b.WriteString("\n" + memoryFooter)
	return b.String()
}

// answerCommand answers, without the model, a stored inbound text that is a memory command or
// an active program's keyword. It runs in the transaction that stored the message (msgID), so
// the action and its answer commit together; the answer's id derives from the message, and a
// redelivered message finds it and neither repeats the action nor stores a second answer.
// It returns nil when the text is neither.
//
// Commands work whatever the conversation's status: a person whose conversation the creator
// took over can still see and erase their own data and join a program; the creator sees the
// exchange in the conversation. In a group chat (group is true) the profile is not shown.
func (w *Worker) answerCommand(ctx context.Context, q *db.Queries, conv db.Conversation, msgID uuid.UUID, text string, group bool) (*db.Message, error) {
	return w.answerCommandWith(ctx, q, conv, msgID, text, group, nil)
}

// programLookup is ProgramByKeyword's outcome, read ahead (with the statements that stored the
// message, in one round trip).
type programLookup struct {
	p   db.Program
	err error
}

// answerCommandWith is answerCommand with the program keyword's lookup read ahead (nil: it
// reads it).
func (w *Worker) answerCommandWith(ctx context.Context, q *db.Queries, conv db.Conversation, msgID uuid.UUID, text string, group bool, ahead *programLookup) (*db.Message, error) {
	cmd := MatchCommand(text)
	var program *db.Program
	if cmd == NoCommand {
		kw := ProgramKeyword(text)
		if kw == "" {
			return nil, nil
		}
		if ahead == nil {
			ahead = &programLookup{}
			ahead.p, ahead.err = q.ProgramByKeyword(ctx, kw)
		}
		p, err := ahead.p, ahead.err
		if db.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		program = &p
	}
	answerID := ids.Reply(msgID)
	if a, err := q.GetMessage(ctx, answerID); err == nil {
		return &a, nil // a redelivery: already done and answered
	} else if !db.IsNotFound(err) {
		return nil, err
	}
	var body string
	switch {
	case cmd == ShowMemory && group:
		body = memoryGroupAnswer
	case cmd == ShowMemory:
		var p memory.Profile
		m, err := q.GetMemory(ctx, conv.EndUserID)
		switch {
		case err == nil:
			if err := json.Unmarshal(m.Profile, &p); err != nil {
				return nil, bus.Permanent(fmt.Errorf("retrieve: memory of end user %s: %w", conv.EndUserID, err))
			}
		case !db.IsNotFound(err):
			return nil, err
		}
		body = MemoryAnswer(p)
	case cmd == ForgetMemory:
		had, err := memory.Erase(ctx, q, conv.CreatorID, conv.EndUserID)
		if err != nil {
			return nil, err
		}
		body = forgetAnswer
		if !had {
			body = forgetEmptyAnswer
		}
	default:
		var err error
		if body, err = w.enroll(ctx, q, conv, *program); err != nil {
			return nil, err
		}
	}
	w.Log.InfoContext(ctx, "in-chat command answered", "creator_id", conv.CreatorID, "conversation_id", conv.ID,
		"command", map[bool]string{true: "program_keyword", false: cmd.String()}[program != nil])
	// The answer covers the command only: a question sent before it still gets its turn.
	a, err := insertCommandReply(ctx, q, conv, msgID, answerID, body)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// insertCommandReply stores body as the reply answerID to the person's command msgID, covering
// it only, queued for dispatch; on a redelivery it returns the reply stored the first time.
func insertCommandReply(ctx context.Context, q *db.Queries, conv db.Conversation, msgID, answerID uuid.UUID, body string) (db.Message, error) {
	r, err := q.InsertReply(ctx, db.InsertReplyParams{
		ID: answerID, CreatorID: conv.CreatorID, ConversationID: conv.ID, Body: body, Sources: json.RawMessage("[]"),
		ReplyTo: uuid.NullUUID{UUID: msgID, Valid: true}, Channel: conv.Channel, Status: "queued", Covers: []uuid.UUID{msgID},
	})
	if db.IsNotFound(err) {
		return q.GetMessage(ctx, answerID)
	}
	return db.Message(r), err
}

// enroll enrolls the conversation's end user in p (step 0 is then sent by the nudge
// scheduler) and returns the confirmation.
func (w *Worker) enroll(ctx context.Context, q *db.Queries, conv db.Conversation, p db.Program) (string, error) {
	eu, err := q.GetEndUser(ctx, conv.EndUserID)
	if err != nil {
		return "", err
	}
	if e, err := q.EndUserEnrollment(ctx, db.EndUserEnrollmentParams{ProgramID: p.ID, EndUserID: eu.ID}); err == nil {
		switch e.Status {
		case "completed":
			return fmt.Sprintf("You've already completed %s.", p.Name), nil
		case "paused": // the keyword again: the person wants to go on
			if _, err := proactive.ResumeEnrollment(ctx, q, e, w.Now(), "resumed_by_keyword"); err != nil {
				return "", err
			}
			return fmt.Sprintf("Welcome back: %s continues where you left it.", p.Name), nil
		case "cancelled":
			return fmt.Sprintf("You left %s. Ask us if you'd like to join again.", p.Name), nil
		}
		return fmt.Sprintf("You're already enrolled in %s.", p.Name), nil
	} else if !db.IsNotFound(err) {
		return "", err
	}
	if _, err := proactive.Enroll(ctx, q, p, eu, w.Now()); err != nil {
		return "", err
	}
	text := fmt.Sprintf("You're enrolled in %s.", p.Name)
	if eu.OptedOutAt != nil && eu.Channel != events.ChannelWidget {
		text += enrolledOptOutNote
	}
	return text, nil
}
