#!/usr/bin/env python3
"""Does `ppdash ipp` keep up with a busy ipyparallel cluster? (bench/compare runs it; it also runs alone.)

    bench/ipp_keepup.py --ppdash PATH/TO/ppdash [--quick] [--waves N] [--wave W] [--json FILE] [--trace FILE]

Starts `ipcluster start -n 4` in a throwaway IPYTHONDIR, then drives no-op tasks (`view.map_async(noop, range(W))`,
waves of W, two in flight) as fast as the hub takes them, in four phases of the same load: A, B, A, B. During each
B phase `ppdash ipp --follow` watches the cluster. Figures:

- latency: from the hub's `completed` timestamp of each task (the engine's reply date, which the client's
  `ar.metadata[...]["completed"]` carries unchanged) to the moment a reader reads ppdash's `--follow` line that
  shows the task finished (same machine, same clock): p50 and p99 over every task of the B phases. The reader is its
  own small process (as a terminal or `| jq` would be): a thread of this script would stamp the line when it gets
  Python's lock back from the ipyparallel client driving the flood, up to most of a second late;
- the controller's CPU time (all its processes: hub, schedulers, relays; utime+stime from /proc) per task during B
  against A: the extra share ppdash's watching costs it;
- ppdash's RSS growth over the tasks of a B phase, per task (its mirror holds every task).

--trace FILE splits the latency into stages (ppdash writes its timestamps there: PPDASH_IPP_TRACE) on stderr and in
the JSON. Prints one Markdown table (figure, goal, met) on stdout, progress on stderr; --json FILE keeps the figures. Needs the
ipyparallel Python package (bench/compare runs it in its venv). Stops everything it started.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time


def log(*a):
    print("ipp_keepup:", *a, file=sys.stderr, flush=True)


def noop(x=0):
    return x


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def cpu_seconds(pids):
    """utime + stime of these processes, in seconds (processes that are gone count 0)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / tick


def controller_pids(cluster_pid):
    """The controller's processes under this `ipcluster start`: `python -m ipyparallel.controller` (its command
    line names no profile) and its forks (schedulers, relays, heart monitor)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out = []
    stack = [cluster_pid]
    while stack:
        for c in children.get(stack.pop(), []):
            try:
                with open(f"/proc/{c}/cmdline", "rb") as f:
                    cmd = f.read().decode(errors="replace")
            except OSError:
                continue
            if "ipyparallel.controller" in cmd or "ipcontroller" in cmd:
                out.append(c)
            stack.append(c)
    return out


def percentile(sorted_xs, q):
    return sorted_xs[min(len(sorted_xs) - 1, (len(sorted_xs) * q) // 100)]


# The reader of ppdash's --follow lines: its own process, so the time it stamps on each line is when a consumer
# reads it, not when this script's thread gets the GIL from the busy ipyparallel client. It prints `ready` at the
# controller line, then `MSG_ID TIME` at the first line showing each task finished, and `settled MSG_ID` at the first
# finished line that has the task's record (ppdash fetches records under a budget during a flood: until then the
# line says `"record":"pending"`).
READER = r"""
import sys, time
FINISHED = ('"status":"ok"', '"status":"failed"', '"status":"aborted"', '"status":"error"')
out = sys.stdout
seen = set()
settled = set()
for raw in sys.stdin.buffer:
    now = time.time()
    if raw.startswith(b'{"event":"controller"'):
        out.write("ready\n")
        out.flush()
        continue
    if not raw.startswith(b'{"event":"task"'):
        continue
    line = raw.decode("utf-8", "replace")
    if not any(s in line for s in FINISHED):
        continue
    k = line.find('"msg_id":"')
    if k < 0:
        continue
    k += len('"msg_id":"')
    msg_id = line[k : line.find('"', k)]
    if msg_id not in settled and '"record":"pending"' not in line:
        settled.add(msg_id)
        out.write(f"settled {msg_id}\n")
        out.flush()
    if msg_id not in seen:
        seen.add(msg_id)
        out.write(f"{msg_id} {now!r}\n")
        out.flush()
"""


class Watcher:
    """`ppdash ipp --follow CONN` piped into READER (its own process); a thread here collects the reader's stamps."""

    def __init__(self, ppdash, conn, trace=None):
        self.seen = {}  # msg_id -> time.time() when the reader read the first finished line
        self.settled = set()  # msg_ids shown finished with their record
        self.ready = threading.Event()
        env = dict(os.environ)
        if trace:
            env["PPDASH_IPP_TRACE"] = trace
        self.proc = subprocess.Popen(
            [ppdash, "ipp", conn, "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=env,
        )
        self.reader = subprocess.Popen(
            [sys.executable, "-c", READER], stdin=self.proc.stdout, stdout=subprocess.PIPE, start_new_session=True
        )
        self.proc.stdout.close()  # the reader holds it now
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        seen = self.seen
        for raw in self.reader.stdout:
            p = raw.split()
            if p == [b"ready"]:
                self.ready.set()
            elif len(p) == 2 and p[0] == b"settled":
                self.settled.add(p[1].decode())
            elif len(p) == 2:
                seen[p[0].decode()] = float(p[1])

    def stop(self):
        for p in (self.proc, self.reader):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
        self.thread.join(timeout=5)


def stages(trace_path, completed, received, seen):
    """The latency split into stages, from ppdash's PPDASH_IPP_TRACE file (see Sources/PPIPP/Trace.swift) and the
    client's metadata: a dict of per-stage percentiles (seconds), the mean stages of the slowest 1% of tasks, and the
    poll loop's longest turn on db replies."""
    io, out = {}, {}
    turns = []
    db = {}  # records in db replies, by query kind
    with open(trace_path) as f:
        for line in f:
            p = line.split()
            if p[0] == "io" and len(p) == 5 and p[1] not in io:
                io[p[1]] = (int(p[2]) / 1e6, int(p[3]) / 1e6, int(p[4]) / 1e6)
            elif p[0] == "out" and len(p) == 3 and p[1] not in out:
                out[p[1]] = int(p[2]) / 1e6
            elif p[0] == "turn" and len(p) == 7:
                turns.append([int(x) for x in p[1:]])
            elif p[0] == "db" and len(p) == 4:
                db[p[1]] = db.get(p[1], 0) + int(p[2])
    names = [
        ("engine idle - hub completed", lambda m: io[m][0] - completed[m]),
        ("ppdash zmq receive - engine idle (controller's IOPub relay, ppdash's poll)", lambda m: io[m][1] - io[m][0]),
        ("mirror applied - zmq receive", lambda m: io[m][2] - io[m][1]),
        ("--follow flushed - applied", lambda m: out[m] - io[m][2]),
        ("reader read - flushed (the pipe, the reader process)", lambda m: seen[m] - out[m]),
        ("total: reader read - hub completed", lambda m: seen[m] - completed[m]),
        ("for comparison: client received its reply - hub completed", lambda m: received[m] - completed[m]),
    ]
    ids = [m for m in completed if m in io and m in out and m in seen and m in received]
    table = {}
    for name, f in names:
        xs = sorted(f(m) for m in ids)
        if xs:
            table[name] = {"p50": percentile(xs, 50), "p90": percentile(xs, 90), "p99": percentile(xs, 99), "max": xs[-1]}
    slow = sorted(ids, key=lambda m: seen[m] - completed[m])[-max(1, len(ids) // 100):]
    tail = {name: sum(f(m) for m in slow) / len(slow) for name, f in names} if slow else {}
    reg = sorted(t[5] / 1e6 for t in turns)
    return {
        "tasks": len(ids),
        "stages": table,
        "slowest_1pct_mean": tail,
        "poll_turns": len(turns),
        "db_reply_turn_p99_s": percentile(reg, 99) if reg else None,
        "db_reply_turn_max_s": reg[-1] if reg else None,
        "turn_gap_max_s": max((b[0] - a[2]) / 1e6 for a, b in zip(turns, turns[1:])) if len(turns) > 1 else None,
        # Each record in a db reply is a deep copy of the hub's record: per task of the B phases, by query kind.
        "hub_records_per_task": {k: v / max(1, len(completed)) for k, v in sorted(db.items())},
    }


def print_stages(st):
    log(f"stage breakdown over {st['tasks']} tasks (seconds):")
    log(f"  {'stage':<78} {'p50':>7} {'p90':>7} {'p99':>7} {'max':>7} {'slow1%':>7}")
    for name, q in st["stages"].items():
        log(f"  {name:<78} {q['p50']:7.3f} {q['p90']:7.3f} {q['p99']:7.3f} {q['max']:7.3f} {st['slowest_1pct_mean'][name]:7.3f}")
    log(
        f"  poll loop: {st['poll_turns']} turns with messages; time on db replies in one turn p99 "
        f"{st['db_reply_turn_p99_s']}, max {st['db_reply_turn_max_s']}; longest gap between such turns {st['turn_gap_max_s']}"
    )
    log(f"  hub records sent to ppdash per task (each a deep copy on the hub), by query: {st['hub_records_per_task']}")


def drive(view, waves, wave):
    """`waves` map_async waves of `wave` no-op tasks, two in flight; returns the AsyncMapResults."""
    done = []
    inflight = []
    for k in range(waves):
        inflight.append(view.map_async(noop, range(k * wave, (k + 1) * wave), chunksize=1))
        if len(inflight) == 2:
            ar = inflight.pop(0)
            ar.get()
            done.append(ar)
    for ar in inflight:
        ar.get()
        done.append(ar)
    return done


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--ppdash", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json")
    ap.add_argument("--waves", type=int, help="waves per phase (default 25, --quick 4)")
    ap.add_argument("--wave", type=int, help="tasks per wave (default 400, --quick 250; 2 waves in flight)")
    ap.add_argument("--trace", help="FILE: ppdash writes its stage timestamps there (PPDASH_IPP_TRACE); the latency "
                    "is then split into stages on stderr and in --json")
    args = ap.parse_args()
    import ipyparallel as ipp

    # At most 2 waves in flight stay under DictDB's 1024 records, so the hub drops no record before its task ran.
    waves, wave = (4, 250) if args.quick else (25, 400)
    waves, wave = args.waves or waves, args.wave or wave
    if waves < 1 or wave < 1 or waves * wave > 1_000_000:
        ap.error("--waves and --wave: positive, at most 1,000,000 tasks per phase")
    ipcluster = os.path.join(os.path.dirname(sys.executable), "ipcluster")
    ipython_dir = tempfile.mkdtemp(prefix="ppbench-keepup-")
    env = dict(os.environ, IPYTHONDIR=ipython_dir, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    profile_dir = os.path.join(ipython_dir, "profile_default")
    cluster = None
    watcher = None
    out = {}
    try:
        cluster = subprocess.Popen(
            [ipcluster, "start", "-n", "4", f"--profile-dir={profile_dir}"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        conn = os.path.join(profile_dir, "security", "ipcontroller-client.json")
        deadline = time.time() + 120
        while not os.path.exists(conn):
            if cluster.poll() is not None or time.time() > deadline:
                raise RuntimeError("ipcluster did not start")
            time.sleep(0.05)
        rc = None
        while rc is None:
            try:
                rc = ipp.Client(conn, timeout=30)
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.1)
        rc.wait_for_engines(4, timeout=120)
        view = rc.load_balanced_view()
        drive(view, 1, 200)  # warm up
        pids = controller_pids(cluster.pid)
        log(f"cluster up: controller pids {pids}; {waves} waves of {wave} no-op tasks per phase")

        cpu = {"A": 0.0, "B": 0.0}
        tasks = {"A": 0, "B": 0}
        lat = []
        missing = 0
        per_task_mem = []
        all_completed, all_received, all_seen = {}, {}, {}
        for phase in ("A", "B", "A", "B"):
            if phase == "B":
                watcher = Watcher(args.ppdash, conn, trace=args.trace)
                if not watcher.ready.wait(60):
                    raise RuntimeError("ppdash ipp --follow printed nothing in 60 s")
                time.sleep(1)  # its first full load settles
                rss0 = rss_bytes(watcher.proc.pid)
            c0 = cpu_seconds(pids)
            t0 = time.time()
            ars = drive(view, waves, wave)
            wall = time.time() - t0
            if phase == "B":
                # The controller's CPU counts until ppdash has every task's record (or the hub's word that it
                # dropped it): the records it deferred during the flood are part of what watching costs.
                ids = [m for ar in ars for m in ar.msg_ids]
                end = time.time() + 60
                while time.time() < end and any(m not in watcher.settled for m in ids):
                    time.sleep(0.1)
                unsettled = sum(1 for m in ids if m not in watcher.settled)
                if unsettled:
                    log(f"phase B: {unsettled} tasks still without their record after 60 s")
            c1 = cpu_seconds(pids)
            n = waves * wave
            cpu[phase] += c1 - c0
            tasks[phase] += n
            log(f"phase {phase}: {n} tasks in {wall:.2f} s ({n / wall:.0f}/s), controller CPU {c1 - c0:.2f} s")
            if phase == "B":
                completed = {}
                for ar in ars:
                    for mid, md in zip(ar.msg_ids, ar.metadata):
                        completed[mid] = md["completed"].timestamp()
                        all_received[mid] = md["received"].timestamp()
                all_completed.update(completed)
                end = time.time() + 30
                while time.time() < end and any(m not in watcher.seen for m in completed):
                    time.sleep(0.1)
                rss1 = rss_bytes(watcher.proc.pid)
                seen = dict(watcher.seen)
                all_seen.update(seen)
                watcher.stop()
                watcher = None
                for mid, c in completed.items():
                    if mid in seen:
                        lat.append(seen[mid] - c)
                    else:
                        missing += 1
                per_task_mem.append((rss1 - rss0) / n)
                log(f"phase B: ppdash RSS {rss0 / 1e6:.1f} -> {rss1 / 1e6:.1f} MB; {missing} tasks never shown so far")
        rc.close()
        lat.sort()
        a = cpu["A"] / tasks["A"]
        b = cpu["B"] / tasks["B"]
        out = {
            "tasks_per_phase": waves * wave,
            "latency_p50_s": percentile(lat, 50) if lat else None,
            "latency_p99_s": percentile(lat, 99) if lat else None,
            "never_shown": missing,
            "controller_cpu_us_per_task_alone": a * 1e6,
            "controller_cpu_us_per_task_watched": b * 1e6,
            "controller_cpu_extra": b / a - 1,
            # The mean over the B phases (each a fresh ppdash): one phase's RSS moves by whole malloc arenas.
            "memory_per_task_bytes": sum(per_task_mem) / len(per_task_mem),
            "load": os.getloadavg()[0],
        }
        if args.trace:
            out["trace"] = stages(args.trace, all_completed, all_received, all_seen)
            print_stages(out["trace"])
    finally:
        if watcher is not None:
            watcher.stop()
        if cluster is not None:
            subprocess.run(
                [ipcluster, "stop", f"--profile-dir={profile_dir}"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
            )
            try:
                cluster.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(cluster.pid, signal.SIGKILL)
        shutil.rmtree(ipython_dir, ignore_errors=True)

    def row(name, figure, goal, met):
        return f"| {name} | {figure} | {goal} | {'met' if met else 'NOT met'} |"

    p50, p99 = out["latency_p50_s"], out["latency_p99_s"]
    shown_all = out["never_shown"] == 0
    print("| ipp view (ipcluster, 4 engines, no-op tasks as fast as the hub takes them) | figure | goal | met |")
    print("|---|---|---|---|")
    print(row("hub's completed to ppdash showing it, p50", f"{p50:.3f} s", "<= 0.3 s", p50 is not None and p50 <= 0.3 and shown_all))
    print(row("hub's completed to ppdash showing it, p99", f"{p99:.3f} s", "<= 1 s", p99 is not None and p99 <= 1.0 and shown_all))
    if not shown_all:
        print(row("tasks ppdash never showed finished", str(out["never_shown"]), "0", False))
    extra = out["controller_cpu_extra"]
    print(
        row(
            "controller CPU with ppdash watching",
            f"{extra * 100:+.1f}% ({out['controller_cpu_us_per_task_alone']:.0f} -> "
            f"{out['controller_cpu_us_per_task_watched']:.0f} us/task)",
            "<= +5%",
            extra <= 0.05,
        )
    )
    mem = out["memory_per_task_bytes"]
    print(row("ppdash memory per mirrored task", f"{mem:.0f} B", "<= 1 KB", mem <= 1024))
    print(f"\n{out['tasks_per_phase']} tasks per phase, phases A B A B; load average {out['load']:.1f} at the end.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
