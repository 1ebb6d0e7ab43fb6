#!/usr/bin/env bash
# The steps of the bgctl GitHub Action (action.yml), as a plain script, so that
# they run the same in a workflow and on a laptop (.ci/run's test runs them here).
#
#   action-deploy.sh deploy   bgctl up, then one deployment; the records go to RECORD_DIR.
#                             Exits with bgctl deploy's status: 0 succeeded, 1 rolled back.
#   action-deploy.sh down     bgctl down (always run it, even after a failure).
#
# Inputs (environment; paths relative to INPUT_WORKING_DIRECTORY):
#   INPUT_SERVICE_DEFINITION  an ECS service definition JSON (aws ecs update-service --cli-input-json)
#   INPUT_TASK_DEFINITION     or an ECS task definition JSON, deployed to the slot not serving production
#   INPUT_CONFIG              a bgctl configuration file (BGCTL_CONFIG); default: the kit's bgctl.toml
#   INPUT_TEST_COMMAND        run as the POST_TEST_TRAFFIC_SHIFT hook, in the working directory
#                             (it sees BGCTL_INGRESS_URL, BGCTL_TEST_HEADER, BGCTL_TEST_HEADER_VALUE, ...)
#   INPUT_BAKE_TIME           bgctl deploy --bake-time (e.g. 0, 30s, 5m)
#   INPUT_WORKING_DIRECTORY   the user's repository (default: the current directory)
#   RECORD_DIR                where the deployment record goes (default: bgctl-deployment-record)
# BGCTL_MINUTE, COMPOSE_PROJECT_NAME, BGCTL_HTTP_PORT, ... pass through to bgctl.
set -euo pipefail

mode=${1:?usage: action-deploy.sh deploy|down}
kit=$(cd "$(dirname "$0")/.." && pwd)
workdir=$(cd "${INPUT_WORKING_DIRECTORY:-.}" && pwd)
record_dir=${RECORD_DIR:-bgctl-deployment-record}
case "$record_dir" in /*) ;; *) record_dir="$workdir/$record_dir" ;; esac

absolute() {  # a user's path, relative to their working directory
  case "$1" in /*) printf '%s' "$1" ;; *) printf '%s/%s' "$workdir" "$1" ;; esac
}

if [ -n "${INPUT_CONFIG:-}" ]; then
  BGCTL_CONFIG=$(absolute "$INPUT_CONFIG")
  export BGCTL_CONFIG
fi
# bgctl runs in the kit's folder (compose.yaml, envoy/, nginx/); the user's files are absolute paths.
cd "$kit"

case "$mode" in
  deploy)
    bgctl up
    args=()
    if [ -n "${INPUT_SERVICE_DEFINITION:-}" ]; then
      args+=(--service-definition "$(absolute "$INPUT_SERVICE_DEFINITION")")
    elif [ -n "${INPUT_TASK_DEFINITION:-}" ]; then
      # A task definition goes to the slot that does not serve production, as ECS would.
      production=$(bgctl status --json | python3 -c 'import json, sys; print(json.load(sys.stdin)["production"])')
      target=green; [ "$production" = green ] && target=blue
      args+=("$target" --task-definition "$(absolute "$INPUT_TASK_DEFINITION")")
    fi
    if [ -n "${INPUT_TEST_COMMAND:-}" ]; then
      args+=(--hook "POST_TEST_TRAFFIC_SHIFT=cd $(printf '%q' "$workdir") && ${INPUT_TEST_COMMAND}")
    fi
    if [ -n "${INPUT_BAKE_TIME:-}" ]; then
      args+=(--bake-time "$INPUT_BAKE_TIME")
    fi
    status=0
    bgctl deploy "${args[@]}" || status=$?
    # The record, whatever happened: what ECS's DescribeServiceDeployments would show, and the history.
    mkdir -p "$record_dir"
    bgctl describe --json > "$record_dir/describe.json" || true
    project=${COMPOSE_PROJECT_NAME:-bgctl}
    if [ -d ".bgctl/$project/deployments" ]; then
      cp -R ".bgctl/$project/deployments" "$record_dir/"
    fi
    case "$status" in
      0) echo "bgctl: the deployment succeeded; record in $record_dir" ;;
      1) echo "bgctl: the deployment was rolled back; record in $record_dir" >&2 ;;
      *) echo "bgctl deploy failed (exit $status); record in $record_dir" >&2 ;;
    esac
    exit "$status"
    ;;
  down)
    bgctl down
    ;;
  *)
    echo "usage: action-deploy.sh deploy|down" >&2
    exit 2
    ;;
esac
