#!/bin/sh
# Roles for a coachwire database, run once by the postgres image on an empty data directory
# (/docker-entrypoint-initdb.d): the owner runs migrations, the app role owns nothing and cannot
# bypass row-level security. The passwords come from the environment (compose.yaml requires
# them; deploy/gen-env.sh writes random ones to .env); psql quotes them (:'var').
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v owner_pw="${COACHWIRE_OWNER_DB_PASSWORD:?set COACHWIRE_OWNER_DB_PASSWORD}" \
  -v app_pw="${COACHWIRE_APP_DB_PASSWORD:?set COACHWIRE_APP_DB_PASSWORD}" <<'SQL'
CREATE ROLE coachwire_owner LOGIN PASSWORD :'owner_pw';
CREATE ROLE coachwire_app LOGIN PASSWORD :'app_pw' NOSUPERUSER NOBYPASSRLS;
CREATE DATABASE coachwire OWNER coachwire_owner;
SQL
