#!/usr/bin/env bash
# actionlint over the workflow and the action. actionlint lints workflows, not
# action metadata: the action is checked through a small workflow that uses it
# as a local action (`uses: ./`, with every input), which makes actionlint read
# action.yml (it must parse, and the inputs must exist). actionlint finds local
# actions from the repository root, hence the scratch git repository.
set -euo pipefail
cd "$(dirname "$0")/.."

actionlint .github/workflows/ci.yml

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/.github/workflows"
cp action.yml "$scratch/"
cat > "$scratch/.github/workflows/uses-action.yml" <<'WORKFLOW'
name: uses-action
on: push
jobs:
  deploy:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - id: bgctl
        uses: ./
        with:
          service-definition: examples/service-definitions/backend.json
          task-definition: ""
          config: bgctl.toml
          test-command: 'curl -fsS -H "$BGCTL_TEST_HEADER: $BGCTL_TEST_HEADER_VALUE" "$BGCTL_INGRESS_URL/"'
          bake-time: "0"
          minute: 1s
          python-version: "3.11"
          working-directory: .
          artifact-name: record
      - run: echo "deploy exited ${{ steps.bgctl.outputs.exit-code }}"
WORKFLOW
git -C "$scratch" init -q
(cd "$scratch" && actionlint .github/workflows/uses-action.yml)
echo "actionlint: .github/workflows/ci.yml and action.yml are clean"
