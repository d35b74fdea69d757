#!/usr/bin/env bash
# Check step of the composite action (action.yml): optional keyless auth, then `gate check`.
#
# Every input arrives as an INPUT_* environment variable (never interpolated into the
# script, so a hostile value cannot inject shell code). The gate itself writes the step
# summary, outputs and annotations, since GITHUB_ACTIONS=true.
#
#   GATE_BIN, GATE_PYTHON      from the install step
#   INPUT_POLICY               policy files or directories, one per line
#   INPUT_NAMESPACE            namespaces (globs), separated by spaces, commas or lines
#   INPUT_IMAGE                image references, separated by spaces, commas or lines
#   INPUT_UNRANKED INPUT_REGION INPUT_ENDPOINT INPUT_SNAPSHOT INPUT_JUNIT INPUT_JSON
#   INPUT_OVERRIDE INPUT_REQUIRE_IMAGES INPUT_EXPLAIN INPUT_FAIL
#   INPUT_ROLE_TO_ASSUME INPUT_OIDC_PROVIDER_ARN INPUT_ROLE_SESSION_NAME INPUT_AUDIENCE
set -uo pipefail
set -f  # namespace globs such as prod-* must reach the gate unexpanded

fail() {
  echo "::error title=Image gate::$1"
  { echo "verdict=error"; echo "exit-code=2"; } >> "${GITHUB_OUTPUT:-/dev/null}"
  exit 2
}

flag() {  # flag NAME VALUE: sets REPLY to true or false, or fails naming the input
  case "$(printf '%s' "$2" | tr '[:upper:]' '[:lower:]')" in
    true | yes | 1) REPLY=true ;;
    false | no | 0 | "") REPLY=false ;;
    *) fail "input $1 must be true or false, not '$2'" ;;
  esac
}

flag fail "${INPUT_FAIL:-true}"
fail_step="$REPLY"
flag require-images "${INPUT_REQUIRE_IMAGES:-false}"
require_images="$REPLY"
flag explain "${INPUT_EXPLAIN:-false}"
explain="$REPLY"

args=(check)
while IFS= read -r line; do
  line="${line#"${line%%[![:space:]]*}"}"
  line="${line%"${line##*[![:space:]]}"}"
  [ -n "$line" ] && args+=(--policy "$line")
done <<< "${INPUT_POLICY:-}"
namespaces="${INPUT_NAMESPACE:-}"
images="${INPUT_IMAGE:-}"
for item in ${namespaces//,/ }; do args+=(--namespace "$item"); done
for item in ${images//,/ }; do args+=(--image "$item"); done
[ -n "${INPUT_UNRANKED:-}" ] && args+=(--unranked "$INPUT_UNRANKED")
[ -n "${INPUT_REGION:-}" ] && args+=(--region "$INPUT_REGION")
[ -n "${INPUT_ENDPOINT:-}" ] && args+=(--endpoint "$INPUT_ENDPOINT")
[ -n "${INPUT_SNAPSHOT:-}" ] && args+=(--snapshot "$INPUT_SNAPSHOT")
[ -n "${INPUT_JUNIT:-}" ] && args+=(--junit "$INPUT_JUNIT")
[ -n "${INPUT_JSON:-}" ] && args+=(--json "$INPUT_JSON")
[ -n "${INPUT_OVERRIDE:-}" ] && args+=(--override "$INPUT_OVERRIDE")
[ "$require_images" = true ] && args+=(--require-images)
[ "$explain" = true ] && args+=(--explain)

if [ -n "${INPUT_ROLE_TO_ASSUME:-}${INPUT_OIDC_PROVIDER_ARN:-}" ]; then
  if [ -z "${INPUT_ROLE_TO_ASSUME:-}" ] || [ -z "${INPUT_OIDC_PROVIDER_ARN:-}" ]; then
    fail "keyless auth needs both role-to-assume and oidc-provider-arn"
  fi
  token_dir="$(mktemp -d "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/gate-oidc.XXXXXX")" || exit 2
  chmod 700 "$token_dir"
  trap 'rm -rf "$token_dir"' EXIT
  "$GATE_PYTHON" -m gate.ci.github_oidc --token-file "$token_dir/token" \
    --audience "${INPUT_AUDIENCE:-sts.aliyuncs.com}" || exit $?
  # The role is what the user asked for: static keys in the environment would win in the
  # credentials chain, so they do not reach the gate.
  unset ALIBABA_CLOUD_ACCESS_KEY_ID ALIBABA_CLOUD_ACCESS_KEY_SECRET ALIBABA_CLOUD_SECURITY_TOKEN
  export ALIBABA_CLOUD_OIDC_TOKEN_FILE="$token_dir/token"
  export ALIBABA_CLOUD_OIDC_PROVIDER_ARN="$INPUT_OIDC_PROVIDER_ARN"
  export ALIBABA_CLOUD_ROLE_ARN="$INPUT_ROLE_TO_ASSUME"
  session="${INPUT_ROLE_SESSION_NAME:-gate-github-${GITHUB_RUN_ID:-run}-${GITHUB_RUN_ATTEMPT:-1}}"
  session="$(printf '%s' "$session" | tr -c 'A-Za-z0-9.@_-' '-' | cut -c1-64)"
  export ALIBABA_CLOUD_ROLE_SESSION_NAME="$session"
fi

"$GATE_BIN" "${args[@]}"
rc=$?

# A usage error caught by the command-line parser itself happens before the gate can
# write its outputs; make sure the action's outputs still say what happened.
if ! grep -qE '^exit-code(=|<<)' "${GITHUB_OUTPUT:-/dev/null}" 2>/dev/null; then
  { echo "verdict=error"; echo "exit-code=$rc"; } >> "${GITHUB_OUTPUT:-/dev/null}"
fi

if [ "$rc" -eq 1 ] && [ "$fail_step" = false ]; then
  echo "::notice title=Image gate::the gate failed (exit 1); 'fail: false' lets this step pass"
  exit 0
fi
exit "$rc"
