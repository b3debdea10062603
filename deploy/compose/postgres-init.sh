#!/bin/sh
# First start of the compose PostgreSQL: the application role Lumen runs as. It owns nothing and has no
# BYPASSRLS, so row-level security binds it (ARCHITECTURE §3); `lumen db upgrade` grants it its privileges.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
     -v app_password="$LUMEN_APP_DB_PASSWORD" <<'SQL'
CREATE ROLE lumen_app LOGIN PASSWORD :'app_password'
  NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION;
GRANT CONNECT ON DATABASE lumen TO lumen_app;
CREATE EXTENSION IF NOT EXISTS vector;
SQL
