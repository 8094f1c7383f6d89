package db_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/coachwire/coachwire/internal/db"
	"github.com/coachwire/coachwire/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// seed creates a creator with one row in every tenant table and returns its ids.
type seeded struct {
	creator, user, endUser, conversation, message, document uuid.UUID
}

func seed(t *testing.T, s *db.Store) seeded {
	t.Helper()
	ctx := context.Background()
	x := seeded{creator: uuid.New(), user: uuid.New(), endUser: uuid.New(), conversation: uuid.New(), message: uuid.New(), document: uuid.New()}
	err := s.InTenant(ctx, x.creator, func(q *db.Queries) error {
		if _, err := q.InsertCreator(ctx, db.InsertCreatorParams{ID: x.creator, Name: "c", Email: x.creator.String() + "@example.com",
			WidgetKey: "wk_" + x.creator.String(), WidgetSecret: "s", AllowedOrigins: []string{}}); err != nil {
			return err
		}
		if err := q.CreateUser(ctx, db.CreateUserParams{ID: x.user, Email: x.creator.String() + "@example.com", PasswordHash: "h"}); err != nil {
			return err
		}
		if _, err := q.InsertMember(ctx, db.InsertMemberParams{ID: uuid.New(), CreatorID: x.creator, UserID: x.user, Role: "owner"}); err != nil {
			return err
		}
		if _, err := q.InsertInvitation(ctx, db.InsertInvitationParams{ID: uuid.New(), CreatorID: x.creator, Email: "i@example.com", Role: "agent",
			TokenHash: append([]byte("inv"), x.creator[:]...), ExpiresAt: nowPlusHour()}); err != nil {
			return err
		}
		if _, err := q.InsertAPIKey(ctx, db.InsertAPIKeyParams{ID: uuid.New(), CreatorID: x.creator, Name: "k", Role: "viewer", Prefix: "cwk_",
			TokenHash: append([]byte("key"), x.creator[:]...)}); err != nil {
			return err
		}
		if err := q.RegisterAPIKey(ctx, db.RegisterAPIKeyParams{CreatorID: x.creator, TokenHash: append([]byte("key"), x.creator[:]...)}); err != nil {
			return err
		}
		if err := q.RegisterWidgetKey(ctx, db.RegisterWidgetKeyParams{CreatorID: x.creator, WidgetKey: "wk_" + x.creator.String()}); err != nil {
			return err
		}
		if _, err := q.UpsertEndUser(ctx, db.UpsertEndUserParams{ID: x.endUser, CreatorID: x.creator, Channel: "widget", ExternalID: "anon"}); err != nil {
			return err
		}
		if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: x.conversation, CreatorID: x.creator, EndUserID: x.endUser, Channel: "widget"}); err != nil {
			return err
		}
		if err := q.InsertLinkCode(ctx, db.InsertLinkCodeParams{CreatorID: x.creator, CodeHash: x.endUser[:], EndUserID: x.endUser, ExpiresAt: nowPlusHour()}); err != nil {
			return err
		}
		if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: x.message, CreatorID: x.creator, ConversationID: x.conversation,
			Role: "user", Body: "secret of " + x.creator.String(), Sources: json.RawMessage("[]"), Channel: "widget", Status: "received"}); err != nil {
			return err
		}
		if _, err := q.InsertDocument(ctx, db.InsertDocumentParams{ID: x.document, CreatorID: x.creator, Title: "t", Format: "text", Body: "b"}); err != nil {
			return err
		}
		if _, err := q.UpsertPushSubscription(ctx, db.UpsertPushSubscriptionParams{ID: uuid.New(), CreatorID: x.creator, EndUserID: x.endUser,
			Endpoint: "https://push.example.com/" + x.creator.String(), P256dh: "p", Auth: "a"}); err != nil {
			return err
		}
		// A second conversation (whatsapp) with bot replies, a failed send and a takeover fills
		// every analytics rollup (migration 0017's triggers); the widget one keeps one message.
		conv2, ask := uuid.New(), uuid.New()
		if _, err := q.UpsertConversation(ctx, db.UpsertConversationParams{ID: conv2, CreatorID: x.creator, EndUserID: x.endUser, Channel: "whatsapp"}); err != nil {
			return err
		}
		if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: ask, CreatorID: x.creator, ConversationID: conv2,
			Role: "user", Body: "question", Sources: json.RawMessage("[]"), Channel: "whatsapp", Status: "received"}); err != nil {
			return err
		}
		for _, src := range []string{`[]`, `[{"document_id":"` + x.document.String() + `","title":"t"}]`} {
			reply := uuid.New()
			if _, err := q.InsertReply(ctx, db.InsertReplyParams{ID: reply, CreatorID: x.creator, ConversationID: conv2, Body: "r",
				Sources: json.RawMessage(src), ReplyTo: uuid.NullUUID{UUID: ask, Valid: true}, Channel: "whatsapp", Status: "generated", Covers: []uuid.UUID{}}); err != nil {
				return err
			}
			if err := q.SetMessageStatus(ctx, db.SetMessageStatusParams{ID: reply, Status: "failed", Error: "e"}); err != nil {
				return err
			}
		}
		// A proactive send (a coach message answering nothing) and a dead-lettered turn.
		if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: x.creator, ConversationID: conv2,
			Role: "assistant", Body: "nudge", Sources: json.RawMessage("[]"), Channel: "whatsapp", Status: "queued"}); err != nil {
			return err
		}
		if err := q.RecordDeadLetter(ctx, db.RecordDeadLetterParams{EventID: uuid.New(), CreatorID: x.creator, Channel: "whatsapp", Stage: "generate", At: time.Now()}); err != nil {
			return err
		}
		// A campaign decision (the campaign rollup of migration 0028).
		camp, occ := uuid.New(), uuid.New()
		if _, err := q.InsertCampaign(ctx, db.InsertCampaignParams{ID: camp, CreatorID: x.creator, Name: "c", Audience: json.RawMessage(`{}`),
			Content: json.RawMessage(`{"text":"hi"}`), Schedule: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		if err := q.InsertOccurrence(ctx, db.InsertOccurrenceParams{ID: occ, CreatorID: x.creator, CampaignID: camp, ScheduledAt: time.Now()}); err != nil {
			return err
		}
		if err := q.RecordNudgeDecision(ctx, db.RecordNudgeDecisionParams{OccurrenceID: occ, EndUserID: x.endUser, CreatorID: x.creator,
			CampaignID: uuid.NullUUID{UUID: camp, Valid: true}, Status: "skipped", Reason: "capped", DecidedAt: time.Now()}); err != nil {
			return err
		}
		// The queued messages go into the rollups (migration 0027); one more stays queued.
		if _, err := q.AnalyticsApply(ctx, db.AnalyticsApplyParams{CreatorID: x.creator, MaxRows: 1000}); err != nil {
			return err
		}
		if _, err := q.InsertMessage(ctx, db.InsertMessageParams{ID: uuid.New(), CreatorID: x.creator, ConversationID: conv2,
			Role: "user", Body: "queued", Sources: json.RawMessage("[]"), Channel: "whatsapp", Status: "received"}); err != nil {
			return err
		}
		if _, err := q.SetConversationStatus(ctx, db.SetConversationStatusParams{ID: conv2, Status: "human"}); err != nil {
			return err
		}
		if _, err := q.ClaimDelivery(ctx, db.ClaimDeliveryParams{MessageID: x.message, CreatorID: x.creator, Channel: "widget"}); err != nil {
			return err
		}
		if err := q.AddLLMUsage(ctx, db.AddLLMUsageParams{CreatorID: x.creator, Day: pgtype.Date{Time: time.Now().UTC(), Valid: true}, Kind: "nudge", Tokens: 10}); err != nil {
			return err
		}
		if err := q.SetLLMBudget(ctx, db.SetLLMBudgetParams{CreatorID: x.creator, Kind: "embed"}); err != nil {
			return err
		}
		if err := q.InsertSession(ctx, db.InsertSessionParams{ID: uuid.New(), CreatorID: x.creator, UserID: x.user, MemberID: uuid.New(), ExpiresAt: nowPlusHour()}); err != nil {
			return err
		}
		if _, err := q.InsertAuditEntry(ctx, db.InsertAuditEntryParams{CreatorID: x.creator, ID: uuid.New(), At: time.Now(), ActorType: "user",
			ActorID: uuid.NullUUID{UUID: x.user, Valid: true}, Action: "document.uploaded", TargetType: "document", TargetID: x.document.String(),
			Ip: "192.0.2.1", Details: json.RawMessage("{}"), Always: true}); err != nil {
			return err
		}
		return q.InsertRefreshToken(ctx, db.InsertRefreshTokenParams{ID: uuid.New(), CreatorID: x.creator, UserID: x.user, FamilyID: uuid.New(), TokenHash: x.creator[:], ExpiresAt: nowPlusHour()})
	})
	require.NoError(t, err)
	return x
}

var tenantTables = []string{"creators", "refresh_tokens", "end_users", "conversations", "messages", "documents", "deliveries",
	"llm_usage", "llm_budgets", "members", "invitations", "api_keys", "auth_sessions", "audit_log",
	"analytics_activity", "analytics_first_contact", "analytics_turns", "analytics_gaps", "analytics_citations", "analytics_team_events", "analytics_channel_events",
	"message_terms", "analytics_days", "analytics_sends", "analytics_dead_letters", "push_subscriptions", "link_codes", "analytics_queue",
	"analytics_campaign_counts", "analytics_campaign_state", "analytics_gap_months", "analytics_citation_months"}

// TestRLSMatrix tries every tenant table with SELECT, UPDATE, DELETE and INSERT as another
// creator, with no tenant and with an empty tenant: nothing of creator A may be seen or written.
func TestRLSMatrix(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	a := seed(t, s)
	b := seed(t, s)
	ctx := context.Background()
	pool := s.Pool()

	type tenantCtx struct {
		name  string
		setup string
	}
	contexts := []tenantCtx{
		{"other creator", fmt.Sprintf("SELECT set_config('app.creator_id', '%s', true)", b.creator)},
		{"unset", "SELECT 1"},
		{"empty", "SELECT set_config('app.creator_id', '', true)"},
	}
	idCol := func(table string) string {
		switch table {
		case "creators":
			return "id"
		case "deliveries":
			return "message_id"
		}
		return "creator_id"
	}
	// Every tenant table holds rows of A (seen in A's own tenant), so the matrix below can fail.
	inTx(t, pool, fmt.Sprintf("SELECT set_config('app.creator_id', '%s', true)", a.creator), func(tx pgx.Tx) {
		for _, table := range tenantTables {
			var n int
			require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM "+table).Scan(&n))
			require.NotZero(t, n, "no rows of A in %s", table)
		}
	})
	for _, tc := range contexts {
		for _, table := range tenantTables {
			t.Run(tc.name+"/"+table, func(t *testing.T) {
				inTx(t, pool, tc.setup, func(tx pgx.Tx) {
					var n int
					col := idCol(table)
					where := fmt.Sprintf("creator_id = '%s'", a.creator)
					if col == "id" {
						where = fmt.Sprintf("id = '%s'", a.creator)
					}
					require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE "+where).Scan(&n))
					require.Zero(t, n, "SELECT saw creator A's rows")
					set := "created_at = now()"
					if strings.HasPrefix(table, "analytics_") || table == "message_terms" {
						set = "creator_id = creator_id"
					}
					if table == "audit_log" {
						// Append-only: the app role may not even try (TestAuditLogAppendOnly).
						_, err := tx.Exec(ctx, "UPDATE audit_log SET at = now() WHERE "+where)
						require.ErrorContains(t, err, "permission denied")
						return
					}
					tag, err := tx.Exec(ctx, "UPDATE "+table+" SET "+set+" WHERE "+where)
					require.NoError(t, err)
					require.Zero(t, tag.RowsAffected(), "UPDATE touched creator A's rows")
					tag, err = tx.Exec(ctx, "DELETE FROM "+table+" WHERE "+where)
					require.NoError(t, err)
					require.Zero(t, tag.RowsAffected(), "DELETE removed creator A's rows")
				})
			})
		}
		t.Run(tc.name+"/insert", func(t *testing.T) {
			inTx(t, pool, tc.setup, func(tx pgx.Tx) {
				_, err := tx.Exec(ctx, `INSERT INTO documents (id, creator_id, title, format, body) VALUES ($1, $2, 't', 'text', 'x')`, uuid.New(), a.creator)
				require.ErrorContains(t, err, "row-level security", "INSERT into creator A's tenant was allowed")
			})
		})
	}

	t.Run("no access to credential tables", func(t *testing.T) {
		for _, table := range []string{"users", "api_key_lookup"} {
			inTx(t, pool, "SELECT 1", func(tx pgx.Tx) {
				_, err := tx.Exec(ctx, "SELECT * FROM "+table)
				require.ErrorContains(t, err, "permission denied")
			})
		}
		inTx(t, pool, "SELECT 1", func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, "SELECT * FROM widget_keys")
			require.ErrorContains(t, err, "permission denied")
		})
	})
	t.Run("register functions refuse another tenant", func(t *testing.T) {
		err := s.InTenant(ctx, b.creator, func(q *db.Queries) error {
			return q.RegisterWidgetKey(ctx, db.RegisterWidgetKeyParams{CreatorID: a.creator, WidgetKey: "stolen"})
		})
		require.ErrorContains(t, err, "not the current tenant")
	})
	t.Run("queries in own tenant see own rows only", func(t *testing.T) {
		require.NoError(t, s.InTenant(ctx, b.creator, func(q *db.Queries) error {
			_, err := q.GetMessage(ctx, a.message)
			require.True(t, db.IsNotFound(err), "got A's message from B: %v", err)
			docs, err := q.ListDocuments(ctx, 100)
			require.NoError(t, err)
			require.Len(t, docs, 1)
			require.Equal(t, b.document, docs[0].ID)
			return nil
		}))
	})
}

// TestRLSInterleaved runs many transactions for different creators over a 2-connection pool:
// a tenant setting must never leak from one transaction into the next on the same connection.
func TestRLSInterleaved(t *testing.T) {
	t.Parallel()
	d := testenv.Postgres(t)
	s, err := db.Open(context.Background(), d.AppURL, 2)
	require.NoError(t, err)
	defer s.Close()
	creators := []seeded{seed(t, s), seed(t, s), seed(t, s), seed(t, s)}
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	crossSeen := 0
	const perWorker = 250
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				me := creators[(w+i)%len(creators)]
				_ = s.InTenant(ctx, me.creator, func(q *db.Queries) error {
					msgs, err := q.RecentMessages(ctx, db.RecentMessagesParams{ConversationID: me.conversation, Limit: 10})
					if err != nil {
						return err
					}
					for _, other := range creators {
						if other.creator == me.creator {
							continue
						}
						if _, err := q.GetConversation(ctx, other.conversation); err == nil {
							mu.Lock()
							crossSeen++
							mu.Unlock()
						}
					}
					for _, m := range msgs {
						if m.CreatorID != me.creator {
							mu.Lock()
							crossSeen++
							mu.Unlock()
						}
					}
					return nil
				})
				// And outside any tenant, nothing at all.
				_ = s.Global(ctx, func(q *db.Queries) error {
					if _, err := q.GetConversation(ctx, me.conversation); err == nil {
						mu.Lock()
						crossSeen++
						mu.Unlock()
					}
					return nil
				})
			}
		}()
	}
	wg.Wait()
	t.Logf("interleaved transactions: %d, cross-tenant rows seen: %d", 8*perWorker*2, crossSeen)
	require.Zero(t, crossSeen)
}

func TestAppRoleCheckRefusesPrivilegedRoles(t *testing.T) {
	t.Parallel()
	d := testenv.Postgres(t)
	ctx := context.Background()
	for name, url := range map[string]string{"owner": d.OwnerURL, "superuser": d.SuperURL} {
		t.Run(name, func(t *testing.T) {
			_, err := db.Open(ctx, url, 2)
			require.ErrorContains(t, err, "refusing to run as role")
		})
	}
	s, err := db.Open(ctx, d.AppURL, 2)
	require.NoError(t, err)
	s.Close()
}

func TestLookupsOutsideTenant(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	a := seed(t, s)
	ctx := context.Background()
	require.NoError(t, s.Global(ctx, func(q *db.Queries) error {
		u, err := q.UserByEmail(ctx, a.creator.String()+"@EXAMPLE.com")
		require.NoError(t, err)
		require.Equal(t, a.user, u.ID)
		require.Equal(t, "h", u.PasswordHash)
		k, err := q.APIKeyCreator(ctx, append([]byte("key"), a.creator[:]...))
		require.NoError(t, err)
		require.Equal(t, a.creator, k)
		// Outside a tenant, nobody's profile is visible.
		ps, err := q.MemberProfiles(ctx)
		require.NoError(t, err)
		require.Empty(t, ps)
		id, err := q.CreatorByWidgetKey(ctx, "wk_"+a.creator.String())
		require.NoError(t, err)
		require.Equal(t, a.creator, id)
		return nil
	}))
}

func inTx(t *testing.T, pool *pgxpool.Pool, setup string, fn func(pgx.Tx)) {
	t.Helper()
	ctx := context.Background()
	tx, err := pool.Begin(ctx)
	require.NoError(t, err)
	defer tx.Rollback(ctx) //nolint:errcheck
	_, err = tx.Exec(ctx, setup)
	require.NoError(t, err)
	fn(tx)
}

// TestInTenantRollsBack: a failing closure leaves nothing behind, and a connection that saw an
// error inside a tenant transaction is never reused with that tenant set.
func TestInTenantRollsBack(t *testing.T) {
	t.Parallel()
	d := testenv.Postgres(t)
	s, err := db.Open(context.Background(), d.AppURL, 1)
	require.NoError(t, err)
	defer s.Close()
	a := seed(t, s)
	ctx := context.Background()
	doc := uuid.New()
	boom := fmt.Errorf("boom")
	err = s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		_, err := q.InsertDocument(ctx, db.InsertDocumentParams{ID: doc, CreatorID: a.creator, Title: "t", Format: "text", Body: "b"})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	// A SQL error inside the closure, then the same single connection outside any tenant.
	err = s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		_, err := q.InsertDocument(ctx, db.InsertDocumentParams{ID: a.document, CreatorID: a.creator, Title: "dup", Format: "text", Body: "b"})
		return err
	})
	require.True(t, db.IsUniqueViolation(err), "%v", err)
	var setting string
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT COALESCE(current_setting('app.creator_id', true), '')").Scan(&setting))
	require.Empty(t, setting, "tenant leaked out of its transaction")
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		_, err := q.GetDocument(ctx, doc)
		require.True(t, db.IsNotFound(err), "the failed transaction's insert survived: %v", err)
		return nil
	}))
}

// TestEveryTenantTableIsGuarded: every table with a creator_id column (and creators itself) has
// row-level security enabled and forced, with the tenant_isolation policy — so a table added by
// a later migration cannot forget it — and the app role owns none of them.
func TestEveryTenantTableIsGuarded(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	rows, err := s.Pool().Query(context.Background(), `
		SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
		       EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid AND p.polname = 'tenant_isolation'),
		       pg_get_userbyid(c.relowner)::text
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = 'public' AND c.relkind = 'r'
		  AND (c.relname = 'creators' OR EXISTS (SELECT 1 FROM pg_attribute a
		       WHERE a.attrelid = c.oid AND a.attname = 'creator_id' AND NOT a.attisdropped))
		  AND c.relname NOT IN ('api_key_lookup', 'widget_keys', 'channel_keys', 'app_slugs')`)
	require.NoError(t, err)
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, owner string
		var enabled, forced, policy bool
		require.NoError(t, rows.Scan(&name, &enabled, &forced, &policy, &owner))
		require.True(t, enabled && forced, "%s: RLS enabled=%v forced=%v", name, enabled, forced)
		require.True(t, policy, "%s has no tenant_isolation policy", name)
		require.NotEqual(t, "coachwire_app", owner, "%s is owned by the app role", name)
		n++
	}
	require.NoError(t, rows.Err())
	t.Logf("%d tenant tables guarded", n)
	require.Greater(t, n, 10)
	// The lookup tables outside RLS are out of the app role's reach altogether.
	for _, table := range []string{"users", "api_key_lookup", "widget_keys", "channel_keys", "app_slugs"} {
		_, err := s.Pool().Exec(context.Background(), "SELECT * FROM "+table)
		require.ErrorContains(t, err, "permission denied", table)
	}
}

// TestAsUserSeesOwnMembershipsOnly: a transaction naming a person (AsUser) sees that person's
// memberships in every workspace and those workspaces' creators rows, and nothing else: not the
// other members of those workspaces, not another person's memberships, no tenant data.
func TestAsUserSeesOwnMembershipsOnly(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	a := seed(t, s)
	b := seed(t, s)
	c := seed(t, s)
	ctx := context.Background()
	// A's person joins B's workspace as an agent.
	require.NoError(t, s.InTenant(ctx, b.creator, func(q *db.Queries) error {
		_, err := q.InsertMember(ctx, db.InsertMemberParams{ID: uuid.New(), CreatorID: b.creator, UserID: a.user, Role: "agent"})
		return err
	}))
	require.NoError(t, s.AsUser(ctx, a.user, func(q *db.Queries) error {
		ws, err := q.UserWorkspaces(ctx, a.user)
		require.NoError(t, err)
		got := map[uuid.UUID]string{}
		for _, w := range ws {
			got[w.CreatorID] = w.Role
		}
		require.Equal(t, map[uuid.UUID]string{a.creator: "owner", b.creator: "agent"}, got)
		other, err := q.UserWorkspaces(ctx, c.user)
		require.NoError(t, err)
		require.Empty(t, other, "saw another person's memberships")
		_, err = q.GetCreator(ctx, c.creator)
		require.True(t, db.IsNotFound(err), "saw a workspace the person is not in: %v", err)
		_, err = q.GetMember(ctx, db.GetMemberParams{CreatorID: b.creator, UserID: b.user})
		require.True(t, db.IsNotFound(err), "saw another member of a workspace: %v", err)
		_, err = q.GetMessage(ctx, a.message)
		require.True(t, db.IsNotFound(err), "saw tenant data outside a tenant: %v", err)
		ps, err := q.MemberProfiles(ctx)
		require.NoError(t, err)
		require.Len(t, ps, 1)
		require.Equal(t, a.user, ps[0].ID)
		return nil
	}))
	// In B's tenant, the profiles are B's members: B's owner and A's person, not C's.
	require.NoError(t, s.InTenant(ctx, b.creator, func(q *db.Queries) error {
		ps, err := q.MemberProfiles(ctx)
		require.NoError(t, err)
		ids := []uuid.UUID{}
		for _, p := range ps {
			ids = append(ids, p.ID)
		}
		require.ElementsMatch(t, []uuid.UUID{a.user, b.user}, ids)
		return nil
	}))
}

// TestAuditLogAppendOnly: in its own workspace the application role reads and appends audit
// entries but can neither change nor remove one (no UPDATE or DELETE grant, whatever RLS says),
// and cannot append one to another workspace.
func TestAuditLogAppendOnly(t *testing.T) {
	t.Parallel()
	s := testenv.Store(t)
	a := seed(t, s)
	b := seed(t, s)
	ctx := context.Background()
	own := fmt.Sprintf("SELECT set_config('app.creator_id', '%s', true)", a.creator)
	for _, stmt := range []string{
		"UPDATE audit_log SET action = 'document.kept'",
		"UPDATE audit_log SET actor_label = 'someone else' WHERE creator_id = '" + a.creator.String() + "'",
		"DELETE FROM audit_log",
		"DELETE FROM audit_log WHERE creator_id = '" + a.creator.String() + "'",
		"TRUNCATE audit_log",
	} {
		inTx(t, s.Pool(), own, func(tx pgx.Tx) {
			_, err := tx.Exec(ctx, stmt)
			require.ErrorContains(t, err, "permission denied", stmt)
		})
	}
	inTx(t, s.Pool(), own, func(tx pgx.Tx) {
		var n int
		require.NoError(t, tx.QueryRow(ctx, "SELECT count(*) FROM audit_log").Scan(&n))
		require.Equal(t, 1, n, "A sees exactly its own entry")
		_, err := tx.Exec(ctx, `INSERT INTO audit_log (creator_id, id, actor_type, action) VALUES ($1, $2, 'user', 'document.deleted')`, a.creator, uuid.New())
		require.NoError(t, err, "the app role appends in its own workspace")
		_, err = tx.Exec(ctx, `INSERT INTO audit_log (creator_id, id, actor_type, action) VALUES ($1, $2, 'user', 'document.deleted')`, b.creator, uuid.New())
		require.ErrorContains(t, err, "row-level security", "appended to B's log from A's tenant")
	})
	// The insert writes only in a transaction that changed something, unless told always.
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		n, err := q.InsertAuditEntry(ctx, db.InsertAuditEntryParams{CreatorID: a.creator, ID: uuid.New(), At: time.Now(), ActorType: "user",
			Action: "document.deleted", Details: json.RawMessage("{}")})
		require.NoError(t, err)
		require.Zero(t, n, "a read-only transaction got an audit entry")
		return nil
	}))
}

// TestTransactionOpensWithFirstStatement: a transaction is opened by its first statement
// (BEGIN and the tenant in the same pipeline), whichever kind it is: an exec, a row, rows. Each
// first statement runs in the tenant and inside the transaction (a later failure rolls it
// back); a function that runs no statement opens none; another creator's rows stay invisible.
func TestTransactionOpensWithFirstStatement(t *testing.T) {
	t.Parallel()
	s, a, b := oneConnection(t)
	ctx := context.Background()
	owner := uuid.NullUUID{UUID: uuid.New(), Valid: true}
	var err error
	boom := fmt.Errorf("boom")
	leased := func(c, conv uuid.UUID) bool { return leasedBy(t, s, c, conv, owner) }

	// A row first (UPDATE … RETURNING), rolled back by the function's error.
	err = s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		_, err := q.AcquireTurnLease(ctx, db.AcquireTurnLeaseParams{ID: a.conversation, Owner: owner, LeaseSeconds: 60})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.False(t, leased(a.creator, a.conversation), "the first statement ran outside the transaction")

	// The same, committed; then an exec first (it releases the lease), committed.
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		_, err := q.AcquireTurnLease(ctx, db.AcquireTurnLeaseParams{ID: a.conversation, Owner: owner, LeaseSeconds: 60})
		return err
	}))
	require.True(t, leased(a.creator, a.conversation))
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		return q.ReleaseTurnLease(ctx, db.ReleaseTurnLeaseParams{ID: a.conversation, Owner: owner})
	}))
	require.False(t, leased(a.creator, a.conversation))

	// Rows first, read in part, then more statements in the same transaction: all in the tenant.
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		msgs, err := q.RecentMessages(ctx, db.RecentMessagesParams{ConversationID: a.conversation, Limit: 10})
		require.NoError(t, err)
		require.Len(t, msgs, 1)
		_, err = q.GetConversation(ctx, b.conversation)
		require.True(t, db.IsNotFound(err), "another creator's conversation: %v", err)
		_, err = q.GetConversation(ctx, a.conversation)
		return err
	}))
	// Another creator's rows as the first statement: none.
	require.NoError(t, s.InTenant(ctx, b.creator, func(q *db.Queries) error {
		msgs, err := q.RecentMessages(ctx, db.RecentMessagesParams{ConversationID: a.conversation, Limit: 10})
		require.Empty(t, msgs)
		return err
	}))
	// No statement: nothing opened, the connection is idle and without a tenant.
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error { return nil }))
	var setting string
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT COALESCE(current_setting('app.creator_id', true), '')").Scan(&setting))
	require.Empty(t, setting)
}

// TestInTenantOneCommitsWithItsStatement: a one-statement transaction (BEGIN, tenant, statement
// and COMMIT in one pipeline) commits a statement that succeeded, whatever fn returns then; a
// failed statement rolls back and leaves the connection idle and without a tenant; a second
// statement is refused; the statement sees its own tenant only.
func TestInTenantOneCommitsWithItsStatement(t *testing.T) {
	t.Parallel()
	s, a, b := oneConnection(t)
	ctx := context.Background()
	owner := uuid.NullUUID{UUID: uuid.New(), Valid: true}
	var err error
	idle := func() {
		t.Helper()
		var setting string
		require.NoError(t, s.Pool().QueryRow(ctx, "SELECT COALESCE(current_setting('app.creator_id', true), '')").Scan(&setting))
		require.Empty(t, setting, "tenant leaked out of its transaction")
	}
	leased := func(c, conv uuid.UUID) bool { return leasedBy(t, s, c, conv, owner) }

	boom := fmt.Errorf("boom")
	err = s.InTenantOne(ctx, a.creator, func(q *db.Queries) error {
		_, err := q.AcquireTurnLease(ctx, db.AcquireTurnLeaseParams{ID: a.conversation, Owner: owner, LeaseSeconds: 60})
		require.NoError(t, err)
		return boom
	})
	require.ErrorIs(t, err, boom)
	require.True(t, leased(a.creator, a.conversation), "the statement did not commit")
	idle()

	// Another creator's conversation: not found, nothing changed.
	err = s.InTenantOne(ctx, b.creator, func(q *db.Queries) error {
		return q.ReleaseTurnLease(ctx, db.ReleaseTurnLeaseParams{ID: a.conversation, Owner: owner})
	})
	require.NoError(t, err)
	require.True(t, leased(a.creator, a.conversation), "another tenant's statement changed the row")
	err = s.InTenantOne(ctx, b.creator, func(q *db.Queries) error {
		_, err := q.GetConversation(ctx, a.conversation)
		return err
	})
	require.True(t, db.IsNotFound(err), "another creator's conversation: %v", err)
	idle()

	// A failed statement: rolled back, the connection usable at once.
	err = s.InTenantOne(ctx, a.creator, func(q *db.Queries) error {
		_, err := q.InsertDocument(ctx, db.InsertDocumentParams{ID: a.document, CreatorID: a.creator, Title: "dup", Format: "text", Body: "b"})
		return err
	})
	require.True(t, db.IsUniqueViolation(err), "%v", err)
	idle()

	// A second statement is refused; the first committed.
	err = s.InTenantOne(ctx, a.creator, func(q *db.Queries) error {
		if err := q.ReleaseTurnLease(ctx, db.ReleaseTurnLeaseParams{ID: a.conversation, Owner: owner}); err != nil {
			return err
		}
		_, err := q.GetConversation(ctx, a.conversation)
		return err
	})
	require.ErrorContains(t, err, "second statement")
	require.False(t, leased(a.creator, a.conversation))
	idle()
}

// TestTurnReadsPipeline: the turn's five reads in one pipeline, as the first statements of a
// transaction and after one; another creator's rows are as missing as in the single queries.
func TestTurnReadsPipeline(t *testing.T) {
	t.Parallel()
	s, a, b := oneConnection(t)
	ctx := context.Background()
	var err error
	p := db.TurnReadsParams{MessageID: a.message, ConversationID: a.conversation, EndUserID: a.endUser, CreatorID: a.creator, RecentLimit: 21}
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		r, err := q.TurnReads(ctx, p)
		require.NoError(t, err)
		require.Equal(t, a.message, r.Trigger.ID)
		require.Len(t, r.Pending, 1)
		require.Len(t, r.Recent, 1)
		require.Nil(t, r.Memory)
		require.Equal(t, a.creator, r.Creator.ID)
		// After another statement, in the same transaction.
		_, err = q.GetConversation(ctx, a.conversation)
		require.NoError(t, err)
		_, err = q.TurnReads(ctx, p)
		return err
	}))
	var setting string
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT COALESCE(current_setting('app.creator_id', true), '')").Scan(&setting))
	require.Empty(t, setting)
	err = s.InTenant(ctx, b.creator, func(q *db.Queries) error {
		r, err := q.TurnReads(ctx, p)
		require.Empty(t, r.Pending)
		require.Empty(t, r.Recent)
		return err
	})
	require.True(t, db.IsNotFound(err), "another creator's trigger: %v", err)
}

// TestPipeline: the statements of a Pipeline run in order in the transaction, each call gets
// its own result, and a failed statement fails the transaction.
func TestPipeline(t *testing.T) {
	t.Parallel()
	s, a, b := oneConnection(t)
	ctx := context.Background()
	var err error
	owner := uuid.NullUUID{UUID: uuid.New(), Valid: true}
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		var (
			leased, mine, theirs db.Conversation
			lerr, merr, terr     error
		)
		require.NoError(t, q.Pipeline(ctx, func(q *db.Queries) error {
			leased, lerr = q.AcquireTurnLease(ctx, db.AcquireTurnLeaseParams{ID: a.conversation, Owner: owner, LeaseSeconds: 60})
			mine, merr = q.GetConversation(ctx, a.conversation)
			theirs, terr = q.GetConversation(ctx, b.conversation)
			return nil
		}))
		require.NoError(t, lerr)
		require.NoError(t, merr)
		require.Equal(t, owner, leased.TurnLeaseOwner)
		require.Equal(t, owner, mine.TurnLeaseOwner, "the second statement did not see the first")
		require.True(t, db.IsNotFound(terr), "another creator's conversation: %v (%v)", terr, theirs.ID)
		return nil
	}))
	boom := fmt.Errorf("boom")
	err = s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		var rerr, derr error
		err := q.Pipeline(ctx, func(q *db.Queries) error {
			rerr = q.ReleaseTurnLease(ctx, db.ReleaseTurnLeaseParams{ID: a.conversation, Owner: owner})
			_, derr = q.InsertDocument(ctx, db.InsertDocumentParams{ID: a.document, CreatorID: a.creator, Title: "dup", Format: "text", Body: "b"})
			return boom
		})
		require.NoError(t, rerr)
		require.True(t, db.IsUniqueViolation(derr), "%v", derr)
		return err
	})
	require.ErrorIs(t, err, boom)
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		c, err := q.GetConversation(ctx, a.conversation)
		require.Equal(t, owner, c.TurnLeaseOwner, "the failed transaction's release survived")
		return err
	}))

	// A pipeline as the one "statement" of InTenantOne: committed with it, nothing after it.
	require.NoError(t, s.InTenantOne(ctx, a.creator, func(q *db.Queries) error {
		var rerr, gerr error
		var c db.Conversation
		require.NoError(t, q.Pipeline(ctx, func(q *db.Queries) error {
			rerr = q.ReleaseTurnLease(ctx, db.ReleaseTurnLeaseParams{ID: a.conversation, Owner: owner})
			c, gerr = q.GetConversation(ctx, a.conversation)
			return nil
		}))
		require.NoError(t, rerr)
		require.False(t, c.TurnLeaseOwner.Valid)
		_, err := q.GetConversation(ctx, a.conversation)
		require.ErrorContains(t, err, "second statement")
		return gerr
	}))
	var setting string
	require.NoError(t, s.Pool().QueryRow(ctx, "SELECT COALESCE(current_setting('app.creator_id', true), '')").Scan(&setting))
	require.Empty(t, setting)
	require.NoError(t, s.InTenant(ctx, a.creator, func(q *db.Queries) error {
		c, err := q.GetConversation(ctx, a.conversation)
		require.False(t, c.TurnLeaseOwner.Valid, "the pipeline of InTenantOne did not commit")
		return err
	}))
}

// oneConnection is a store of one connection, so that every transaction runs on it, and two
// seeded tenants.
func oneConnection(t *testing.T) (*db.Store, seeded, seeded) {
	t.Helper()
	s, err := db.Open(context.Background(), testenv.Postgres(t).AppURL, 1)
	require.NoError(t, err)
	t.Cleanup(s.Close)
	return s, seed(t, s), seed(t, s)
}

// leasedBy says whether owner holds the turn lease of conversation conv of creator c.
func leasedBy(t *testing.T, s *db.Store, c, conv uuid.UUID, owner uuid.NullUUID) bool {
	t.Helper()
	var held bool
	require.NoError(t, s.InTenant(context.Background(), c, func(q *db.Queries) error {
		got, err := q.GetConversation(context.Background(), conv)
		held = got.TurnLeaseOwner == owner
		return err
	}))
	return held
}
