// Package people links end users of one creator into one person: the app (or widget) and the
// person's WhatsApp or Telegram chat with the same coach. The person asks the app for a
// one-time code and sends "LINK <code>" in the chat (Telegram: the deep link
// /start link_<code>); the retrieve worker redeems it (Redeem) in the creator's tenant, and
// either side can unlink again (Unlink).
//
// A person is named by the id of one of its end users (end_users.person_id, migration 0025; an
// end user nobody linked is its own person). Linked end users share the memory profile (the
// row keyed by the person), one enrollment per program, the send caps and the opt-out (see
// docs/architecture.md "People"). Every function runs in the creator's tenant: a code sent to
// another creator's bot is unknown there, and the database refuses a person spanning creators.
package people

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/memory"
	"github.com/coachwire/coachwire/internal/proactive"
)

// Code limits.
const (
	// CodeLen is the length of a code: 8 characters of a 32-letter alphabet (40 bits), enough
	// for a code that lives minutes and is tried in a chat.
	CodeLen = 8
	// CodeTTL is how long a code can be redeemed.
	CodeTTL = 10 * time.Minute
	// CodesPerHour is how many codes one end user may ask for in an hour.
	CodesPerHour = 5
	// MaxWrongCodes is how many unknown codes one chat may send in an hour: after that its link
	// commands are not looked up (internal/retrieve), so codes cannot be guessed.
	MaxWrongCodes = 10
)

// codeAlphabet has no 0/O, 1/I/L: a code is read on one screen and typed on another.
const codeAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

// Errors of NewCode and Redeem.
var (
	// ErrTooManyCodes: the end user asked for CodesPerHour codes in the last hour.
	ErrTooManyCodes = errors.New("people: too many link codes; retry later")
	// ErrUnknownCode: no such code in this creator's tenant (typo, or another creator's code).
	ErrUnknownCode = errors.New("people: unknown link code")
	// ErrExpiredCode: the code's time is over.
	ErrExpiredCode = errors.New("people: link code expired")
	// ErrUsedCode: the code was redeemed already (by another chat).
	ErrUsedCode = errors.New("people: link code already used")
	// ErrSameChannel: the code was sent from the channel of the end user who asked for it.
	ErrSameChannel = errors.New("people: link code sent from the same channel")
	// ErrNotLinked: the end user shares its person with nobody.
	ErrNotLinked = errors.New("people: not linked")
)

// Code is a new link code.
type Code struct {
	Code      string
	ExpiresAt time.Time
}

// hash is what is stored of a code (normalised first).
func hash(code string) []byte {
	h := sha256.Sum256([]byte("coachwire-link:" + NormalizeCode(code)))
	return h[:]
}

// NormalizeCode is code as stored: upper case, without spaces or dashes.
func NormalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case ' ', '-', '_':
			return -1
		}
		return r
	}, strings.ToUpper(strings.TrimSpace(code)))
}

// NewCode issues a code for end user eu of creator c (the app's end user): single use,
// expiring after CodeTTL, replacing the end user's unused codes, at most CodesPerHour an hour.
// q runs in c's tenant.
func NewCode(ctx context.Context, q *db.Queries, c, eu uuid.UUID, now time.Time) (Code, error) {
	// The end user's row is locked first: two requests at once are counted one after the other.
	if _, err := q.LockEndUser(ctx, eu); err != nil {
		return Code{}, err
	}
	n, err := q.RecentLinkCodes(ctx, db.RecentLinkCodesParams{EndUserID: eu, Since: now.Add(-time.Hour)})
	if err != nil {
		return Code{}, err
	}
	if n >= CodesPerHour {
		return Code{}, ErrTooManyCodes
	}
	if err := q.ExpireLinkCodes(ctx, db.ExpireLinkCodesParams{EndUserID: eu, Now: now}); err != nil {
		return Code{}, err
	}
	code := randomCode()
	out := Code{Code: code, ExpiresAt: now.Add(CodeTTL).UTC()}
	err = q.InsertLinkCode(ctx, db.InsertLinkCodeParams{CreatorID: c, CodeHash: hash(code), EndUserID: eu, ExpiresAt: out.ExpiresAt})
	return out, err
}

func randomCode() string {
	b := make([]byte, CodeLen)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	for i := range b {
		b[i] = codeAlphabet[int(b[i])%len(codeAlphabet)]
	}
	return string(b)
}

// linkRe matches a link command: "LINK <code>" or "/link <code>" in any case, and Telegram's
// deep link "/start link_<code>" (optionally /start@Bot). The code is one word of letters,
// digits and dashes; MatchLink accepts 6 to 12 characters without the dashes, so that a
// mistyped code gets a clear answer rather than the coach's.
var linkRe = regexp.MustCompile(`(?i)^(?:/?link(?:@\w+)?[\s:]+|/start(?:@\w+)?\s+link_)([a-z0-9][a-z0-9-]*[a-z0-9])$`)

// MatchLink reports whether text, as a whole, is a link command, and its code.
func MatchLink(text string) (code string, ok bool) {
	t := strings.TrimSpace(text)
	if len(t) > 64 {
		return "", false
	}
	m := linkRe.FindStringSubmatch(t)
	if m == nil {
		return "", false
	}
	code = NormalizeCode(m[1])
	if len(code) < 6 || len(code) > 12 {
		return "", false
	}
	return code, true
}

// Linked is the result of a redeemed code.
type Linked struct {
	// App is the end user who asked for the code; Channel the one who sent it.
	App, Channel db.EndUser
	// Already: the two were one person before this code (nothing changed).
	Already bool
}

// Redeem redeems code, sent by end user from (a WhatsApp or Telegram identity) at now, and
// links the two end users into one person. q runs in the creator's tenant (the lookup sees that
// tenant's codes only). Errors: ErrUnknownCode, ErrExpiredCode, ErrUsedCode, ErrSameChannel;
// nothing changes then.
func Redeem(ctx context.Context, q *db.Queries, code string, from db.EndUser, now time.Time) (Linked, error) {
	lc, err := q.LockLinkCode(ctx, hash(code))
	if db.IsNotFound(err) {
		return Linked{}, ErrUnknownCode
	}
	if err != nil {
		return Linked{}, err
	}
	switch {
	case lc.UsedAt != nil:
		return Linked{}, ErrUsedCode
	case !now.Before(lc.ExpiresAt):
		return Linked{}, ErrExpiredCode
	}
	app, err := q.GetEndUser(ctx, lc.EndUserID)
	if err != nil {
		return Linked{}, err
	}
	if app.Channel == from.Channel {
		return Linked{}, ErrSameChannel
	}
	out, err := Link(ctx, q, app, from, now)
	if err != nil {
		return Linked{}, err
	}
	if err := q.UseLinkCode(ctx, db.UseLinkCodeParams{CodeHash: lc.CodeHash, UsedAt: &now, UsedBy: uuid.NullUUID{UUID: from.ID, Valid: true}}); err != nil {
		return Linked{}, err
	}
	return out, nil
}

// Link makes app and channel one person: app's person joins channel's (the chat usually has the
// longer history). Their memory profiles are merged into one, an enrollment of app's person in
// a program channel's person is also in is cancelled (one enrollment per person), and the
// person is opted out if either was (the earliest opt-out stays). q runs in the tenant of both.
func Link(ctx context.Context, q *db.Queries, app, channel db.EndUser, now time.Time) (Linked, error) {
	if app.CreatorID != channel.CreatorID {
		return Linked{}, fmt.Errorf("people: end users of two creators")
	}
	// Lock both people at once, in id order like every locker of end_users rows (LockPeople;
	// the nudge batch's LockEndUsers): two links, an unlink or a batch never deadlock.
	members, err := q.LockPeople(ctx, []uuid.UUID{app.ID, channel.ID})
	if err != nil {
		return Linked{}, err
	}
	personOf := map[uuid.UUID]uuid.UUID{}
	for _, m := range members {
		personOf[m.ID] = m.PersonID
	}
	locked := map[uuid.UUID][]db.EndUser{}
	for _, eu := range []db.EndUser{app, channel} {
		p, ok := personOf[eu.ID]
		if !ok {
			return Linked{}, db.ErrNotFound
		}
		for _, m := range members {
			if m.PersonID == p {
				locked[eu.ID] = append(locked[eu.ID], m)
			}
		}
	}
	appPeople, chanPeople := locked[app.ID], locked[channel.ID]
	from, to := appPeople[0].PersonID, chanPeople[0].PersonID
	for _, m := range appPeople {
		if m.ID == app.ID {
			app = m
		}
	}
	for _, m := range chanPeople {
		if m.ID == channel.ID {
			channel = m
		}
	}
	if from == to {
		return Linked{App: app, Channel: channel, Already: true}, nil
	}
	if err := mergeMemory(ctx, q, app.CreatorID, from, to); err != nil {
		return Linked{}, err
	}
	if err := mergeEnrollments(ctx, q, app.ID, channel.ID, now); err != nil {
		return Linked{}, err
	}
	var optedOut *time.Time
	for _, m := range append(appPeople, chanPeople...) {
		if m.OptedOutAt != nil && (optedOut == nil || m.OptedOutAt.Before(*optedOut)) {
			optedOut = m.OptedOutAt
		}
	}
	if err := q.MovePerson(ctx, db.MovePersonParams{ToPerson: to, FromPerson: from}); err != nil {
		return Linked{}, err
	}
	if err := q.SetPersonOptOut(ctx, db.SetPersonOptOutParams{OptedOutAt: optedOut, PersonID: to}); err != nil {
		return Linked{}, err
	}
	app.PersonID, channel.PersonID = to, to
	app.OptedOutAt, channel.OptedOutAt = optedOut, optedOut
	return Linked{App: app, Channel: channel}, nil
}

// mergeMemory stores the union of the profiles of persons from and to as to's, and drops
// from's row (its end users read to's from now on).
func mergeMemory(ctx context.Context, q *db.Queries, c, from, to uuid.UUID) error {
	src, err := q.MemoryRow(ctx, from)
	if db.IsNotFound(err) {
		return nil // nothing to carry over
	}
	if err != nil {
		return err
	}
	var merged memory.Profile
	dst, err := q.MemoryRow(ctx, to)
	switch {
	case err == nil:
		if err := json.Unmarshal(dst.Profile, &merged); err != nil {
			return fmt.Errorf("people: memory of %s: %w", to, err)
		}
	case !db.IsNotFound(err):
		return err
	}
	var add memory.Profile
	if err := json.Unmarshal(src.Profile, &add); err != nil {
		return fmt.Errorf("people: memory of %s: %w", from, err)
	}
	merged = memory.Profile{Goals: append(merged.Goals, add.Goals...), Preferences: append(merged.Preferences, add.Preferences...),
		Commitments: append(merged.Commitments, add.Commitments...), Facts: append(merged.Facts, add.Facts...)}.Clean()
	raw, err := json.Marshal(merged)
	if err != nil {
		return err
	}
	if err := q.MergeMemory(ctx, db.MergeMemoryParams{EndUserID: to, CreatorID: c, Profile: raw, ExtractedSeq: src.ExtractedSeq,
		EditedByCreator: src.EditedByCreator}); err != nil {
		return err
	}
	return q.DeleteMemoryRow(ctx, from)
}

// mergeEnrollments cancels app's person's enrollments in the programs channel's person is
// enrolled in: one enrollment per person, the chat's is kept.
func mergeEnrollments(ctx context.Context, q *db.Queries, app, channel uuid.UUID, now time.Time) error {
	keep, err := q.PersonEnrollments(ctx, channel)
	if err != nil {
		return err
	}
	if len(keep) == 0 {
		return nil
	}
	programs := map[uuid.UUID]bool{}
	for _, e := range keep {
		programs[e.ProgramID] = true
	}
	drop, err := q.PersonEnrollments(ctx, app)
	if err != nil {
		return err
	}
	for _, e := range drop {
		if !programs[e.ProgramID] || (e.Status != "active" && e.Status != "paused") {
			continue
		}
		if _, err := q.CancelEnrollment(ctx, db.CancelEnrollmentParams{ID: e.ID, Entry: proactive.Entry(int(e.NextStep), "merged_on_link", now)}); err != nil {
			return err
		}
	}
	return nil
}

// Unlink separates end user eu from the person it shares with others: eu becomes its own
// person, with an empty memory profile (the shared one stays with the others), its own
// enrollments and the opt-out it has now. ErrNotLinked when eu shares its person with nobody.
// It returns the end users eu was linked with.
func Unlink(ctx context.Context, q *db.Queries, eu uuid.UUID) ([]db.EndUser, error) {
	members, err := q.LockPeople(ctx, []uuid.UUID{eu}) // id order: see Link
	if err != nil {
		return nil, err
	}
	oldestFirst(members)
	if len(members) == 0 {
		return nil, db.ErrNotFound
	}
	if len(members) == 1 {
		return nil, ErrNotLinked
	}
	var others []db.EndUser
	for _, m := range members {
		if m.ID != eu {
			others = append(others, m)
		}
	}
	if person := members[0].PersonID; person == eu {
		// eu names the person: the others take the oldest of them as their name, and the
		// profile goes with them.
		next := others[0].ID
		if err := q.OwnPerson(ctx, next); err != nil {
			return nil, err
		}
		if err := q.RenamePerson(ctx, db.RenamePersonParams{ToPerson: next, FromPerson: eu}); err != nil {
			return nil, err
		}
		if err := q.MoveMemoryRow(ctx, db.MoveMemoryRowParams{ToEndUser: next, FromEndUser: eu}); err != nil {
			return nil, err
		}
	} else if err := q.OwnPerson(ctx, eu); err != nil {
		return nil, err
	}
	return others, nil
}

// oldestFirst sorts end users by creation (then id), as they were locked in id order.
func oldestFirst(eus []db.EndUser) {
	slices.SortFunc(eus, func(a, b db.EndUser) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return slices.Compare(a.ID[:], b.ID[:])
	})
}

// Identity is one end user of a person, as the APIs show it.
type Identity struct {
	EndUserID   uuid.UUID `json:"end_user_id"`
	Channel     string    `json:"channel"`
	DisplayName string    `json:"display_name,omitempty"`
	Handle      string    `json:"handle,omitempty"`
	LastSeenAt  time.Time `json:"last_seen_at"`
}

// Identities returns, for each of ids, the end users of its person (itself included), oldest
// first, and the person's id.
func Identities(ctx context.Context, q *db.Queries, ids ...uuid.UUID) (map[uuid.UUID][]Identity, map[uuid.UUID]uuid.UUID, error) {
	rows, err := q.PersonIdentities(ctx, ids)
	if err != nil {
		return nil, nil, err
	}
	out := make(map[uuid.UUID][]Identity, len(ids))
	person := make(map[uuid.UUID]uuid.UUID, len(ids))
	for _, r := range rows {
		h := r.ProviderUserID
		if h == "" {
			h = r.ExternalID
		}
		out[r.EndUserID] = append(out[r.EndUserID], Identity{EndUserID: r.ID, Channel: r.Channel, DisplayName: r.DisplayName, Handle: h, LastSeenAt: r.LastSeenAt})
		person[r.EndUserID] = r.PersonID
	}
	return out, person, nil
}
