#!/bin/bash
# Generates these fixture journals with a ppdash binary ($1) into a scratch directory ($2): they were made by
# the release before the JSON layer (commit eafd62a), so the reader is tested against that writer's bytes.
set -u
P=$1; D=$2; T=$(cd "$(dirname "$0")" && pwd)/task.sh
rm -rf $D; mkdir -p $D; cd $D
export HOME=$D XDG_STATE_HOME=$D/state
# 1: ok, failed, timeout, retries, escapes and unicode in stdout/stderr.
$P run --journal $D/mixed.jsonl --json -n 2 --retries 1 --timeout 1 -- "sh $T {} $D/flag" ::: ok esc uni fail slow sig flaky > $D/mixed.out 2>$D/mixed.err
echo "mixed rc=$?"
# 2: halt now: aborted tasks.
$P run --journal $D/halt.jsonl --json -n 1 --halt now -- "sh $T {}" ::: fail b c > $D/halt.out 2>$D/halt.err
echo "halt rc=$?"
# 3: interrupted then resumed.
$P run --journal $D/resumed.jsonl --json -n 2 -- "sh $T {}" ::: a fail s3 s3 e f > $D/r1.out 2>$D/r1.err &
PID=$!
for i in $(seq 1 100); do grep -q '"event":"started"' $D/resumed.jsonl 2>/dev/null && [ $(grep -c '"event":"completed"' $D/resumed.jsonl) -ge 2 ] && break; sleep 0.1; done
kill -9 $PID; wait $PID 2>/dev/null
sleep 0.5
$P resume $D/resumed.jsonl --kill-orphans --json -n 2 > $D/r2.out 2>$D/r2.err
echo "resume rc=$?"
# 4: format 2 (a ppdash writing it, e.g. the one of the commit that added it): the mixed run again.
$P run --journal $D/mixed-v2.jsonl --json -n 2 --retries 1 --timeout 1 -- "sh $T {} $D/flag2" ::: ok esc uni fail slow sig flaky > $D/mixed-v2.out 2>$D/mixed-v2.err
echo "mixed-v2 rc=$?"
ls -la $D
