-- +goose Up
-- Shared state of the request limits (issue 9, defects 4 and 5), so that every gateway replica
-- enforces one budget. No tenant data: the keys are SHA-256 digests of what is limited (a client
-- address, an email, a widget key, a conversation id), never the values themselves.

-- One GCRA bucket per key: tat is the "theoretical arrival time" of the generic cell rate
-- algorithm (RFC-less but standard: ATM Forum TM 4.0, as in redis-cell and throttled). A row whose
-- tat has passed is a full bucket, the same as no row, and is swept. The same table keeps markers
-- (a key with a tat in the future meaning "true until then"): the client addresses a creator has
-- logged in from.
CREATE TABLE rate_limits (
    key bytea PRIMARY KEY,
    tat timestamptz NOT NULL
);
CREATE INDEX rate_limits_tat ON rate_limits (tat);

-- Concurrent widget sockets per session, across replicas. Each gateway process is a holder that
-- renews socket_holders.expires_at while it runs; a socket counts while its holder is alive, so
-- the sockets of a replica that died stop counting once its lease runs out.
CREATE TABLE socket_holders (
    holder     uuid PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
CREATE TABLE socket_leases (
    id         uuid PRIMARY KEY,
    session    bytea NOT NULL,
    holder     uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX socket_leases_session ON socket_leases (session);
CREATE INDEX socket_leases_holder ON socket_leases (holder);

GRANT SELECT, INSERT, UPDATE, DELETE ON rate_limits, socket_holders, socket_leases TO coachwire_app;

-- +goose Down
DROP TABLE socket_leases, socket_holders, rate_limits;
