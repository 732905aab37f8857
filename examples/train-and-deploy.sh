#!/usr/bin/env bash
# The end-to-end example against a running host: upload examples/data/loans.csv, check it with
# examples/data/loans-checks.json, run examples/workflows/train-and-deploy.yaml (ingest → validate →
# split → train → evaluate → register → approve → promote → deploy), approve it, and ask the
# deployed endpoint for a prediction. Walk-through: README "End-to-end example".
#
#   MLP_PASSWORD='<admin password>' examples/train-and-deploy.sh
#
# Settings (environment): MLP_URL (http://localhost:8000), MLP_USER (admin), MLP_PASSWORD (required),
# MLP_PROJECT (loans-demo), MLP_TIMEOUT (seconds to wait for the run, 300).
# Needs curl and python3 (for JSON). Running it again reuses the project, dataset, suite and
# workflow (the same bytes are the same dataset version) and starts one more run.
set -euo pipefail

URL=${MLP_URL:-http://localhost:8000}
USERNAME=${MLP_USER:-admin}
PROJECT=${MLP_PROJECT:-loans-demo}
TIMEOUT=${MLP_TIMEOUT:-300}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CSV=$HERE/data/loans.csv
SUITE=$HERE/data/loans-checks.json
WORKFLOW=$HERE/workflows/train-and-deploy.yaml
DATASET=loans
ENDPOINT=loan-approval

for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 1; }
done
if [[ -z ${MLP_PASSWORD:-} ]]; then
  echo "error: set MLP_PASSWORD to the admin password (the host logs a one-time password at first start," >&2
  echo "       or start it with UserManagement__BootstrapAdmin__Password=...)" >&2
  exit 1
fi

step() { printf '\n==> %s\n' "$*"; }

# json EXPR < body: evaluates a Python expression over the parsed body `j`.
json() { python3 -c 'import json,sys; j=json.load(sys.stdin); v=eval(sys.argv[1]); print(v if isinstance(v,str) else json.dumps(v))' "$1"; }

# api METHOD PATH [curl args...]: sets STATUS and BODY (no subshell, so both stay set).
BODY_FILE=$(mktemp)
trap 'rm -f "$BODY_FILE"' EXIT
api() {
  local method=$1 path=$2
  shift 2
  STATUS=$(curl -sS -o "$BODY_FILE" -w '%{http_code}' -X "$method" "$URL$path" \
    ${TOKEN:+-H "Authorization: Bearer $TOKEN"} "$@")
  BODY=$(cat "$BODY_FILE")
}
fail() { echo "error: $1 answered $STATUS: $(cat "$BODY_FILE")" >&2; exit 1; }

step "Log in as $USERNAME at $URL"
TOKEN=
api POST /api/v1/auth/login -H 'Content-Type: application/json' \
  -d "$(python3 -c 'import json,sys; print(json.dumps({"username": sys.argv[1], "password": sys.argv[2]}))' "$USERNAME" "$MLP_PASSWORD")"
[[ $STATUS == 200 ]] || fail "login"
TOKEN=$(json 'j["accessToken"]' <<<"$BODY")
echo "logged in"
P=/api/v1/projects/$PROJECT

step "Project $PROJECT"
api GET "$P"
if [[ $STATUS == 404 ]]; then
  api POST /api/v1/projects -H 'Content-Type: application/json' -d "{\"name\": \"$PROJECT\"}"
  [[ $STATUS == 201 ]] || fail "create project"
  echo "created"
else
  [[ $STATUS == 200 ]] || fail "get project"
  echo "exists"
fi

step "Dataset $DATASET: upload $(basename "$CSV")"
api GET "$P/datasets/$DATASET"
if [[ $STATUS == 404 ]]; then
  api POST "$P/datasets" -H 'Content-Type: application/json' \
    -d "{\"name\": \"$DATASET\", \"description\": \"Sample loan applications (examples/data/loans.csv)\"}"
  [[ $STATUS == 201 ]] || fail "create dataset"
fi
api POST "$P/datasets/$DATASET/versions" -H 'Content-Type: text/csv' --data-binary "@$CSV"
[[ $STATUS == 201 || $STATUS == 200 ]] || fail "upload"
json '"%s: %s rows, sha256 %s" % (j["ref"], j["rows"], j["sha256"])' <<<"$BODY"
[[ $STATUS == 201 ]] && echo "new version" || echo "the same bytes as before: the existing version, nothing stored"

step "Quality suite loans-checks"
api GET "$P/quality/suites/loans-checks"
if [[ $STATUS == 404 ]]; then
  api POST "$P/quality/suites" -H 'Content-Type: application/json' --data-binary "@$SUITE"
  [[ $STATUS == 201 ]] || fail "create suite"
  json '"created %s@%s with %d rules" % (j["name"], j["version"], len(j["rules"]))' <<<"$BODY"
else
  [[ $STATUS == 200 ]] || fail "get suite"
  echo "exists (to change it, POST a new version to $P/quality/suites)"
fi

step "Workflow train-and-deploy"
api POST "$P/workflows" -H 'Content-Type: application/yaml' --data-binary "@$WORKFLOW"
[[ $STATUS == 201 || $STATUS == 200 ]] || fail "submit workflow"
json '"version %s (%s)" % (j["version"], "new" if "'$STATUS'" == "201" else "unchanged")' <<<"$BODY"

step "Start a run"
api POST "$P/workflows/train-and-deploy/runs" -H 'Content-Type: application/json' -d '{"parameters": {}}'
[[ $STATUS == 202 ]] || fail "start run"
RUN=$(json 'j["id"]' <<<"$BODY")
echo "run $RUN"

# Prints step states as they change; approves the approval step once it waits.
step "Wait for the run (approving the approval step when it asks)"
deadline=$((SECONDS + TIMEOUT))
last=
approved=
while :; do
  api GET "$P/runs/$RUN"
  [[ $STATUS == 200 ]] || fail "get run"
  state=$(json 'j["state"]' <<<"$BODY")
  line=$(json '" ".join("%s:%s" % (s["id"], s["state"]) for s in j["steps"])' <<<"$BODY")
  if [[ $line != "$last" ]]; then echo "  [$state] $line"; last=$line; fi
  case $state in
    succeeded) break ;;
    failed|cancelled)
      json '"\n".join("  %s failed: %s" % (s["id"], (s.get("attempts") or [{}])[-1].get("error")) for s in j["steps"] if s["state"] == "failed")' <<<"$BODY" >&2
      echo "error: the run $state" >&2; exit 1 ;;
  esac
  if [[ -z $approved ]]; then
    api GET "$P/approvals?state=waiting&limit=100"
    waiting=$(json '" ".join(a["stepId"] for a in j["items"] if a["runId"] == "'"$RUN"'")' <<<"$BODY")
    if [[ -n $waiting ]]; then
      json '"\n".join("  approval asked: " + a["message"] for a in j["items"] if a["runId"] == "'"$RUN"'")' <<<"$BODY"
      for s in $waiting; do
        api POST "$P/runs/$RUN/steps/$s/approve" -H 'Content-Type: application/json' -d '{"comment": "approved by examples/train-and-deploy.sh"}'
        [[ $STATUS == 200 ]] || fail "approve"
        echo "  approved step $s"
      done
      approved=1
    fi
  fi
  (( SECONDS < deadline )) || { echo "error: the run did not finish in ${TIMEOUT}s" >&2; exit 1; }
  sleep 1
done
json '"  evaluation on the test split: " + ", ".join("%s=%.4f" % (k, v) for k, v in sorted(next(s for s in j["steps"] if s["id"] == "evaluate")["outputs"]["metrics"].items()))' <<<"$BODY"
if [[ $(json 'next(s for s in j["steps"] if s["id"] == "register")["state"]' <<<"$BODY") == skipped ]]; then
  echo "error: the model's accuracy is below the workflow's minAccuracy, so it was not registered or deployed" >&2
  exit 1
fi
json '"  registered %s v%s, deployed to endpoint %s" % (next(s for s in j["steps"] if s["id"] == "register")["outputs"]["model"], next(s for s in j["steps"] if s["id"] == "register")["outputs"]["version"], next(s for s in j["steps"] if s["id"] == "deploy")["outputs"]["endpoint"])' <<<"$BODY"

# One applicant (the columns of loans.csv without the label).
ROW='{"age": 35, "income": 52000, "debt_ratio": 0.28, "credit_lines": 6, "late_payments": 0, "employment_years": 8.5, "loan_amount": 15000, "region": "west"}'

step "Predict: POST /api/v1/endpoints/$ENDPOINT/predict"
echo "  applicant: $ROW"
api POST "/api/v1/endpoints/$ENDPOINT/predict" -H 'Content-Type: application/json' -d "{\"instances\": [$ROW]}"
[[ $STATUS == 200 ]] || fail "predict"
# ML.NET's export also passes its inputs through as outputs; show the answer's three.
json '"  model %s v%s: " % (j["model"], j["version"]) + ", ".join("%s=%s" % (k.removesuffix(".output"), v) for p in j["predictions"] for k, v in p.items() if k.removesuffix(".output") in ("PredictedLabel", "Probability", "Score"))' <<<"$BODY"

step "Predict: POST /v2/models/$ENDPOINT/infer (Open Inference Protocol)"
api GET "/v2/models/$ENDPOINT"; meta=$BODY
[[ $STATUS == 200 ]] || fail "model metadata"
# One [1,1] tensor per model input; the label input that ML.NET exports is fed a dummy value.
request=$(python3 - "$ROW" "$meta" <<'PY'
import json, sys
row, meta = json.loads(sys.argv[1]), json.loads(sys.argv[2])
inputs = []
for i in meta["inputs"]:
    value = row.get(i["name"])
    if i["datatype"] == "BYTES":
        data = [value if value is not None else ""]
    elif i["datatype"] == "BOOL":
        data = [bool(value) if value is not None else False]
    else:
        data = [value if value is not None else 0]
    inputs.append({"name": i["name"], "shape": [1, 1], "datatype": i["datatype"], "data": data})
print(json.dumps({"inputs": inputs}))
PY
)
api POST "/v2/models/$ENDPOINT/infer" -H 'Content-Type: application/json' -d "$request"
[[ $STATUS == 200 ]] || fail "infer"
json '"\n".join("  %s (%s): %s" % (o["name"], o["datatype"], o["data"]) for o in j["outputs"] if o["name"].removesuffix(".output") in ("PredictedLabel", "Probability", "Score"))' <<<"$BODY"

step "Lineage: GET $P/lineage?endpoint=$ENDPOINT&direction=upstream"
api GET "$P/lineage?endpoint=$ENDPOINT&direction=upstream&depth=10"
[[ $STATUS == 200 ]] || fail "lineage"
json '"\n".join("  %s -> %s" % (e["from"], e["to"]) for e in j["edges"])' <<<"$BODY"

echo
echo "done: run $RUN succeeded; endpoint $ENDPOINT answers at $URL/api/v1/endpoints/$ENDPOINT/predict"
