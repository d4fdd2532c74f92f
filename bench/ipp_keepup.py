#!/usr/bin/env python3
"""Does `ppdash ipp` keep up with a busy ipyparallel cluster? (bench/compare runs it; it also runs alone.)

    bench/ipp_keepup.py --ppdash PATH/TO/ppdash [--quick] [--waves N] [--wave W] [--json FILE]

Starts `ipcluster start -n 4` in a throwaway IPYTHONDIR, then drives no-op tasks (`view.map_async(noop, range(W))`,
waves of W, two in flight) as fast as the hub takes them, in four phases of the same load: A, B, A, B. During each
B phase `ppdash ipp --follow` watches the cluster. Figures:

- latency: from the hub's `completed` timestamp of each task (the engine's reply date, which the client's
  `ar.metadata[...]["completed"]` carries unchanged) to the moment this script reads ppdash's `--follow` line that
  shows the task finished (same machine, same clock): p50 and p99 over every task of the B phases;
- the controller's CPU time (all its processes: hub, schedulers, relays; utime+stime from /proc) per task during B
  against A: the extra share ppdash's watching costs it;
- ppdash's RSS growth over the tasks of a B phase, per task (its mirror holds every task).

Prints one Markdown table (figure, goal, met) on stdout, progress on stderr; --json FILE keeps the figures. Needs the
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


class Watcher:
    """`ppdash ipp --follow CONN`: a thread reads its lines and stamps the first one showing each task finished."""

    FINISHED = ('"status":"ok"', '"status":"failed"', '"status":"aborted"', '"status":"error"')

    def __init__(self, ppdash, conn):
        self.seen = {}  # msg_id -> time.time() at the first finished line
        self.lines = 0
        self.ready = threading.Event()
        self.proc = subprocess.Popen(
            [ppdash, "ipp", conn, "--follow"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        seen = self.seen
        for raw in self.proc.stdout:
            now = time.time()
            self.lines += 1
            line = raw.decode("utf-8", "replace")
            if line.startswith('{"event":"controller"'):
                self.ready.set()
                continue
            if not line.startswith('{"event":"task"'):
                continue
            if not any(s in line for s in self.FINISHED):
                continue
            k = line.find('"msg_id":"')
            if k < 0:
                continue
            k += len('"msg_id":"')
            msg_id = line[k : line.find('"', k)]
            if msg_id not in seen:
                seen[msg_id] = now

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.thread.join(timeout=5)


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
        for phase in ("A", "B", "A", "B"):
            if phase == "B":
                watcher = Watcher(args.ppdash, conn)
                if not watcher.ready.wait(60):
                    raise RuntimeError("ppdash ipp --follow printed nothing in 60 s")
                time.sleep(1)  # its first full load settles
                rss0 = rss_bytes(watcher.proc.pid)
            c0 = cpu_seconds(pids)
            t0 = time.time()
            ars = drive(view, waves, wave)
            wall = time.time() - t0
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
                end = time.time() + 30
                while time.time() < end and any(m not in watcher.seen for m in completed):
                    time.sleep(0.1)
                rss1 = rss_bytes(watcher.proc.pid)
                seen = dict(watcher.seen)
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
