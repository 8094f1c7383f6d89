-- Operator queries (coachwire reindex), run as the schema owner: widget_keys has no row
-- security and holds one row per workspace, registered in the transaction that creates it.

-- name: ListWorkspaceIDs :many
SELECT DISTINCT creator_id FROM widget_keys ORDER BY creator_id;
