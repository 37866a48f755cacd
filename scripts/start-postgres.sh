#!/usr/bin/env bash
# Starts the local PostgreSQL cluster for the store tests (Debian 12, run as root, no systemd),
# makes sure a role "hoody" (password "hoody", CREATEDB) exists, and prints the admin URL to
# use as HOODY_TEST_POSTGRES_URL on the last line of stdout. Safe to run any number of times.
set -euo pipefail

version="${PG_VERSION:-15}"
cluster="${PG_CLUSTER:-main}"
role="${HOODY_PG_ROLE:-hoody}"
password="${HOODY_PG_PASSWORD:-hoody}"

if [ "$(id -u)" -ne 0 ]; then echo "start-postgres: run as root" >&2; exit 1; fi
if ! command -v pg_ctlcluster >/dev/null; then
  echo "start-postgres: PostgreSQL is not installed (apt-get install -y postgresql)" >&2
  exit 1
fi

# One line per cluster: "version name port status owner datadir logfile".
cluster_line() { pg_lsclusters --no-header | awk -v v="$version" -v c="$cluster" '$1 == v && $2 == c'; }

if [ -z "$(cluster_line)" ]; then
  echo "start-postgres: creating cluster $version/$cluster" >&2
  pg_createcluster "$version" "$cluster" >&2
fi

port="$(cluster_line | awk '{print $3}')"
if [ "$(cluster_line | awk '{print $4}')" != "online" ]; then
  # The socket directory lives on a tmpfs in containers and may be gone after a restart.
  install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  pg_ctlcluster "$version" "$cluster" start >&2
fi

for _ in $(seq 1 100); do
  if pg_isready -q -h 127.0.0.1 -p "$port"; then break; fi
  sleep 0.1
done
if ! pg_isready -q -h 127.0.0.1 -p "$port"; then
  echo "start-postgres: cluster $version/$cluster did not accept connections on port $port" >&2
  exit 1
fi

# Create or refresh the role; the password is passed as a psql variable, never spliced into SQL.
(cd / && runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -v role="$role" -v password="$password" >&2) <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'role') AS missing \gset
\if :missing
  CREATE ROLE :"role" LOGIN CREATEDB PASSWORD :'password';
\else
  ALTER ROLE :"role" LOGIN CREATEDB PASSWORD :'password';
\endif
-- tests drop their databases WITH (FORCE); that must also end an autovacuum worker busy in one
GRANT pg_signal_backend TO :"role";
SQL

echo "postgres://${role}:${password}@127.0.0.1:${port}/postgres"
