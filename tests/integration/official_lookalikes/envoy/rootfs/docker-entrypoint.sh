#!/bin/sh
# The logic of the official image's /docker-entrypoint.sh (envoyproxy/envoy
# ci/docker-entrypoint.sh, v1.40.0), step for step. Differences from upstream:
# none in behaviour; su-exec, usermod and groupmod are this folder's scripts.
set -e

# An argument list that starts with an option is Envoy's: `docker run IMAGE -c f.yaml`.
case "$1" in
    -*) set -- envoy "$@" ;;
esac

# $loglevel, when set, becomes Envoy's --log-level.
if [ "$1" = envoy ] && [ -n "${loglevel:-}" ]; then
    set -- "$@" --log-level "$loglevel"
fi

# Started as root and not told ENVOY_UID=0: renumber the envoy user (and group)
# if asked to, and run the command as that user (uid 101 by default).
if [ "$(id -u)" = 0 ] && [ "${ENVOY_UID:-}" != 0 ]; then
    [ -z "${ENVOY_UID:-}" ] || usermod -u "$ENVOY_UID" envoy
    [ -z "${ENVOY_GID:-}" ] || groupmod -g "$ENVOY_GID" envoy
    # so that the unprivileged Envoy can still write the container's log
    chown envoy:envoy /dev/stdout /dev/stderr
    exec su-exec envoy "$@"
fi
exec "$@"
