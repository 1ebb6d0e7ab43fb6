#!/usr/bin/env bash
# A team's ECS deployment pipeline, as it runs against AWS, pointed at the kit:
# register the task definitions, create the services, wait until stable, then a
# blue/green update-service that pauses after test traffic shifts, checks green
# through the test header, continues and waits for SUCCESSFUL.
#
#   bgctl serve &                        # the ECS API on 127.0.0.1:4599
#   bash examples/ecs-api/pipeline.sh
#
# Against AWS, leave AWS_ENDPOINT_URL_ECS unset and put your ALB's URL in INGRESS.
set -euo pipefail
cd "$(dirname "$0")"

export AWS_ENDPOINT_URL_ECS=${AWS_ENDPOINT_URL_ECS:-http://127.0.0.1:${BGCTL_API_PORT:-4599}}
# The kit checks no signature: any credentials do.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-kit} AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-kit}
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1} AWS_PAGER=""
INGRESS=${INGRESS:-http://127.0.0.1:${BGCTL_HTTP_PORT:-8080}}
CLUSTER=ecs-service-connect
TEST_HEADER="x-amzn-ecs-bluegreen-test: test"

say() { printf '\n== %s\n' "$*"; }

say "task definitions"
aws ecs create-cluster --cluster-name "$CLUSTER" --query 'cluster.clusterArn' --output text
for file in backend-blue frontend backend-green; do
  aws ecs register-task-definition --cli-input-json "file://../../revisions/$file.json" \
    --query 'taskDefinition.taskDefinitionArn' --output text
done

say "services"
aws ecs create-service --cli-input-json file://backend-service.json --query 'service.serviceArn' --output text
aws ecs create-service --cli-input-json file://frontend-service.json --query 'service.serviceArn' --output text
aws ecs wait services-stable --cluster "$CLUSTER" --services backend frontend
curl -fsS "$INGRESS/"; echo

say "blue/green deployment of revision 2"
aws ecs update-service --cli-input-json file://backend-update.json --query 'service.taskDefinition' --output text
arn=$(aws ecs list-service-deployments --cluster "$CLUSTER" --service backend --status PENDING IN_PROGRESS \
  --query 'serviceDeployments[0].serviceDeploymentArn' --output text)
echo "$arn"

deployment() { aws ecs describe-service-deployments --service-deployment-arns "$arn" --query "serviceDeployments[0].$1" --output text; }
# The PAUSE hook after POST_TEST_TRAFFIC_SHIFT: test traffic reaches green, production still blue.
until hook=$(deployment "lifecycleHookDetails[?status=='AWAITING_ACTION'].hookId | [0]") && [ "$hook" != None ]; do
  case $(deployment status) in PENDING|IN_PROGRESS) sleep 1 ;; *) echo "deployment ended early: $(deployment status)" >&2; exit 1 ;; esac
done
echo "paused at $(deployment lifecycleStage) (hook $hook)"
echo "test traffic: $(curl -fsS -H "$TEST_HEADER" "$INGRESS/")"
echo "production:   $(curl -fsS "$INGRESS/")"
aws ecs continue-service-deployment --service-deployment-arn "$arn" --hook-id "$hook" --action CONTINUE \
  --query 'serviceDeploymentArn' --output text >/dev/null

while status=$(deployment status); [ "$status" = PENDING ] || [ "$status" = IN_PROGRESS ]; do sleep 1; done
echo "deployment $status"
aws ecs wait services-stable --cluster "$CLUSTER" --services backend
curl -fsS "$INGRESS/"; echo
[ "$status" = SUCCESSFUL ]
