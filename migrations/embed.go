// Package migrations holds coachwire's SQL schema as numbered goose migrations, embedded in the
// binary. Migrations run as the owner role, never as the application role.
package migrations

import "embed"

// FS holds every migration file.
//
//go:embed *.sql
var FS embed.FS
