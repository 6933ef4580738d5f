#!/usr/bin/env bash
# Serve Twilio's own OpenAPI spec for the 2010 REST API (Messages, Calls, ...) as a local mock
# that validates every request (auth, path, form body) and answers with the spec's examples.
#
#   tools/twilio-mock/start.sh [PORT]        # default 4010; install first: npm ci --prefix tools/twilio-mock
#
# Static mode (no --dynamic): answers are the spec's own examples, so they are deterministic
# (a created Message has sid SMaaaa...). An invalid request (no Basic auth, malformed AccountSid,
# missing To, StatusCallback not a URI, ...) always gets a 401/422 application/problem+json
# answer, which twilio-python raises as TwilioRestException; --errors also turns violations
# in prism's own answer into errors rather than warnings.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
port="${1:-4010}"
spec="$here/node_modules/@twilio/cli-core/src/services/twilio-api/twilio_api_v2010.json"
if [[ ! -f "$spec" ]]; then
  echo "twilio-mock: $spec missing; run: npm ci --prefix tools/twilio-mock" >&2
  exit 1
fi
exec node "$here/node_modules/@stoplight/prism-cli/dist/index.js" mock \
  --host 127.0.0.1 --port "$port" --errors --verboseLevel warn "$spec"
