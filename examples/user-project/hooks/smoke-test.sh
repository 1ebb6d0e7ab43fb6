#!/bin/sh
# Lifecycle hook, POST_TEST_TRAFFIC_SHIFT: smoke-test the new revision through the
# test traffic rule before any production request reaches it. A non-zero exit
# rolls the deployment back.
#
# bgctl sets BGCTL_INGRESS_URL, BGCTL_TEST_HEADER and BGCTL_TEST_HEADER_VALUE
# (and BGCTL_TARGET_SLOT, BGCTL_DEPLOYMENT_ID, ...) for every hook.
set -eu

for path in / /health; do
  curl --fail --silent --show-error --max-time 5 -o /dev/null \
    -H "$BGCTL_TEST_HEADER: ${BGCTL_TEST_HEADER_VALUE:-1}" "$BGCTL_INGRESS_URL$path"
done
echo "smoke test: the new revision on $BGCTL_TARGET_SLOT answers / and /health"
