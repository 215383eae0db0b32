#!/usr/bin/env bash
# Seeds a running Vitrine with the demo: a public project gh/vitrine-demo/shop whose builds hold
# screenshots, a log and an HTML report, a private project, and a user who may see it.
# Usage: demo/seed.sh VITRINE_BIN DATA_DIR URL
set -euo pipefail
bin=$1 data=$2 url=$3
demo=$(cd "$(dirname "$0")" && pwd)
admin() { "$bin" admin --data-dir "$data" "$@"; }

if admin project token gh/vitrine-demo/shop >/dev/null 2>&1; then
  echo "demo: already seeded"
  exit 0
fi
admin project add gh/vitrine-demo/shop --public >/dev/null
admin project add gh/vitrine-demo/internal >/dev/null
printf 'demo-password\n' | admin user add demo --password-stdin >/dev/null
printf 'admin-password\n' | admin user add admin --admin --password-stdin >/dev/null
printf 'guest-password\n' | admin user add guest --password-stdin >/dev/null
admin member add gh/vitrine-demo/internal demo --role maintainer >/dev/null
admin member add gh/vitrine-demo/shop demo --role maintainer >/dev/null
shop=$(admin project token gh/vitrine-demo/shop | tail -n 1)
internal=$(admin project token gh/vitrine-demo/internal | tail -n 1)
export VITRINE_RETRY_FOR=30s

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$demo/screenshots" "$demo/baseline" "$demo/report" "$demo/traces" "$demo/coverage" "$demo/playwright-html" "$work/"
{ yes "vitrine demo bundle" || true; } | head -c 300000 > "$work/bundle.bin"
cd "$work"

# 1: a green build on main, v1 style ($CIRCLE_ARTIFACTS), that also stores the screenshots
# build 2 is compared with (its checkout page still had a blue bar) and coverage reports made
# by coverage.py and by Istanbul (c8) for a small cart module (demo/coverage), and the HTML
# report Playwright wrote for a run of end2end/tests/reports.spec.ts (demo/playwright-html).
export VITRINE_DEMO_BIN=$bin
"$bin" run --server "$url" --token "$shop" --project gh/vitrine-demo/shop --branch main --revision 3f2c9a1e5b7d4c6f8a9b0c1d2e3f4a5b6c7d8e9f -- bash -ec '
  for i in $(seq 1 40); do echo "[$(date -u +%T)] step $i: ok"; done > "$CIRCLE_ARTIFACTS/build.log"
  cp screenshots/home.png "$CIRCLE_ARTIFACTS/home.png"
  "$VITRINE_DEMO_BIN" store-artifacts --path baseline --destination screenshots
  "$VITRINE_DEMO_BIN" store-artifacts --path coverage --destination coverage
  "$VITRINE_DEMO_BIN" store-artifacts --path playwright-html --destination e2e-report
'
# 2: a failing build on a feature branch, v2 style (store_artifacts), on two containers.
cat > config.yml <<'YAML'
version: 2.1
jobs:
  build:
    parallelism: 2
    steps:
      - run:
          name: Tests
          command: |
            mkdir -p test-results
            printf '\033[1;31mlogin › shows an error for a wrong password: FAILED\033[0m\n' > test-results/build.log
            printf '\033[32m41 passed, 1 failed\033[0m\n' >> test-results/build.log
            cat > test-results/junit.xml <<'XML'
            <?xml version="1.0" encoding="UTF-8"?>
            <testsuites name="shop e2e" tests="3" failures="1">
              <testsuite name="login.spec.ts" tests="2" failures="1">
                <testcase classname="login" name="signs in with the right password" time="1.20"/>
                <testcase classname="login" name="shows an error for a wrong password" time="5.03">
                  <failure message="expected the alert to say Wrong password">Error: expect(locator).toHaveText()
                  at login.spec.ts:14:31</failure>
                </testcase>
              </testsuite>
              <testsuite name="checkout.spec.ts" tests="1">
                <testcase classname="checkout" name="pays with a card" time="2.50"/>
              </testsuite>
            </testsuites>
            XML
            python3 -m zipfile -c test-results/report.zip report
            exit 1
      - store_artifacts:
          path: test-results/report.zip
          destination: archives/report.zip
      - store_artifacts:
          path: test-results/build.log
          destination: logs/build.log
      - store_artifacts:
          path: test-results/junit.xml
          destination: test-results/junit.xml
      - store_artifacts:
          path: traces/trace.zip
          destination: test-results/trace.zip
      - store_artifacts:
          path: screenshots
      - store_artifacts:
          path: report
          destination: playwright-report
      - store_artifacts:
          path: bundle.bin
          destination: dist/bundle.bin
YAML
"$bin" execute --config config.yml --server "$url" --token "$shop" --project gh/vitrine-demo/shop --branch feature/login-page --revision 9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d || true
"$bin" run --server "$url" --token "$shop" --project gh/vitrine-demo/shop --build-num 2 --node-index 1 --branch feature/login-page -- bash -ec '
  cp screenshots/checkout.png "$CIRCLE_ARTIFACTS/checkout-node1.png"
  echo "node 1: 20 passed" > "$CIRCLE_ARTIFACTS/node.log"
'
# 3: a private build, visible to the demo user only.
"$bin" run --server "$url" --token "$internal" --project gh/vitrine-demo/internal --branch main -- bash -ec '
  echo "internal release notes" > "$CIRCLE_ARTIFACTS/notes.txt"
'
echo "demo: seeded gh/vitrine-demo/shop (public) and gh/vitrine-demo/internal (private; user demo / demo-password)"
