#!/bin/sh
# Writes the broker's user and vhost from the environment (as the official image does), then
# runs RabbitMQ in the foreground. guest is not created.
set -eu
: "${RABBITMQ_DEFAULT_USER:?set RABBITMQ_DEFAULT_USER}"
: "${RABBITMQ_DEFAULT_PASS:?set RABBITMQ_DEFAULT_PASS}"
cat > /var/lib/rabbitmq/rabbitmq.conf <<CONF
default_user = ${RABBITMQ_DEFAULT_USER}
default_pass = ${RABBITMQ_DEFAULT_PASS}
default_vhost = ${RABBITMQ_DEFAULT_VHOST:-/}
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users = none
CONF
export RABBITMQ_CONFIG_FILE=/var/lib/rabbitmq/rabbitmq.conf
exec rabbitmq-server
