#!/usr/bin/env bash
# Start PostgreSQL and RabbitMQ with the machine's own commands when they do not answer yet,
# then wait until both accept connections. Does nothing when they already run.
set -euo pipefail

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! answers 5432; then
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    echo "PostgreSQL is not running on 127.0.0.1:5432 and pg_ctlcluster is missing:" \
         "install postgresql (apt-get install postgresql) or set TEST_DATABASE_URL" >&2
  fi
fi
if ! answers 5672; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "starting RabbitMQ"
    rabbitmq-server -detached || true
  else
    echo "RabbitMQ is not running on 127.0.0.1:5672 and rabbitmq-server is missing:" \
         "install rabbitmq-server (apt-get install rabbitmq-server) or set TEST_AMQP_URL" >&2
  fi
fi
for _ in $(seq 1 120); do
  if answers 5432 && answers 5672; then exit 0; fi
  sleep 1
done
echo "PostgreSQL (5432) or RabbitMQ (5672) did not come up within 120 s" >&2
exit 1
