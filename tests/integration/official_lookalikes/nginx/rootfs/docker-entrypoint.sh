#!/bin/sh
# The logic of nginx:alpine's /docker-entrypoint.sh (nginxinc/docker-nginx
# entrypoint/docker-entrypoint.sh): only when the command is nginx or
# nginx-debug are the scripts in /docker-entrypoint.d/ run first, in version
# order (*.envsh sourced, *.sh executed, both only when executable); any other
# command is exec'd untouched. Differences from upstream: none in behaviour.
set -e

say() {
    [ -n "${NGINX_ENTRYPOINT_QUIET_LOGS:-}" ] || echo "$@"
}

if [ "$1" = nginx ] || [ "$1" = nginx-debug ]; then
    if [ -n "$(find /docker-entrypoint.d/ -mindepth 1 -maxdepth 1 -type f -print 2>/dev/null | head -n 1)" ]; then
        say "$0: /docker-entrypoint.d/ is not empty, will attempt to perform configuration"
        say "$0: Looking for shell scripts in /docker-entrypoint.d/"
        for f in $(find /docker-entrypoint.d/ -follow -type f -print | sort -V); do
            case "$f" in
                *.envsh|*.sh)
                    if [ ! -x "$f" ]; then
                        say "$0: Ignoring $f, not executable"
                    elif [ "${f%.envsh}" != "$f" ]; then
                        say "$0: Sourcing $f"
                        . "$f"
                    else
                        say "$0: Launching $f"
                        "$f"
                    fi
                    ;;
                *) say "$0: Ignoring $f" ;;
            esac
        done
        say "$0: Configuration complete; ready for start up"
    else
        say "$0: No files found in /docker-entrypoint.d/, skipping configuration"
    fi
fi

exec "$@"
