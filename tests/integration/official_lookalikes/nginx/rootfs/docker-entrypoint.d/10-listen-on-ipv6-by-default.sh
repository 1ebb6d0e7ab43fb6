#!/bin/sh
# The logic of nginx:alpine's 10-listen-on-ipv6-by-default.sh: add an IPv6
# listen to conf.d/default.conf unless IPv6 is off, the file is missing,
# read-only or already listens on [::]:80. Difference from upstream: no check
# that the file is still the package's (it is the stand-in's copy, not a
# package's conffile). The other upstream scripts (local resolvers, envsubst of
# /etc/nginx/templates, worker tuning) do nothing without their variables or
# templates, none of which the kit sets; they are left out.
set -e
me=$(basename "$0")
conf=/etc/nginx/conf.d/default.conf
[ -f /proc/net/if_inet6 ] || { echo "$me: error: ipv6 not available"; exit 0; }
[ -f "$conf" ] || { echo "$me: error: $conf is not a file or does not exist"; exit 0; }
touch "$conf" 2>/dev/null || { echo "$me: error: can not modify $conf (read-only file system?)"; exit 0; }
if grep -q 'listen  \[::\]:80;' "$conf"; then
    echo "$me: info: IPv6 listen already enabled"
    exit 0
fi
sed -i -E 's,listen       80;,listen       80;\n    listen  [::]:80;,' "$conf"
echo "$me: Enabled listen on IPv6 in $conf"
