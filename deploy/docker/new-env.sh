#!/bin/sh
# Prints a .env with fresh secrets for one deployment:
#   deploy/docker/new-env.sh > deploy/docker/.env
set -eu
secret() { python3 -c "import secrets; print(secrets.token_urlsafe($1))"; }
cat <<ENV
RABBITMQ_USER=modelserve
RABBITMQ_PASSWORD=$(secret 24)
MODELSERVE_SECRET_KEY=$(secret 32)
# MODELSERVE_API_TOKEN=$(secret 24)
# MODELSERVE_PUBLISH=0.0.0.0
ENV
