package db

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	pgxuuid "github.com/vgarvardt/pgx-google-uuid/v5"
)

// WorkspaceIDs lists every workspace (creator id) through ownerURL, the schema owner's
// connection (COACHWIRE_MIGRATE_DATABASE_URL): the application role sees no workspace outside a
// tenant transaction. Operator commands (coachwire reindex) use it to visit every tenant.
func WorkspaceIDs(ctx context.Context, ownerURL string) ([]uuid.UUID, error) {
	conn, err := pgx.Connect(ctx, ownerURL)
	if err != nil {
		return nil, fmt.Errorf("db: connect as the schema owner (COACHWIRE_MIGRATE_DATABASE_URL): %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	pgxuuid.Register(conn.TypeMap())
	ids, err := New(conn).ListWorkspaceIDs(ctx)
	if err != nil {
		return nil, fmt.Errorf("db: list workspaces: %w", err)
	}
	return ids, nil
}
