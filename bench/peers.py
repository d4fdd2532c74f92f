#!/usr/bin/env python3
"""The peers' side of bench/compare: ipyparallel, Dask and multiprocessing run ppdash-bench's workloads.

Run by bench/compare inside a throwaway virtual environment; prints one JSON object of figures (the keys
ppdash-bench --peers reads) and writes progress to stderr. Every cluster it starts it stops.
"""
import argparse
import json
import multiprocessing
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from ipp_keepup import controller_pids  # bench/ is sys.path[0] when run as a script


def log(*a):
    print("peers:", *a, file=sys.stderr, flush=True)


def rss_bytes(pid):
    """Resident set size of a process, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentiles(samples):
    s = sorted(samples)
    return s[len(s) // 2], s[min(len(s) - 1, (len(s) * 99) // 100)]


def median(xs):
    s = sorted(xs)
    return s[len(s) // 2]


# The recipe's f, a no-op, for every peer (module level so they pickle by reference).
def square_after_sleep(x):
    import time

    time.sleep(0.1)
    return x * x


def noop(x=0):
    return x


# ---------------------------------------------------------------- ipyparallel


def run_ipyparallel(sizes, out):
    import ipyparallel as ipp

    ipcluster = os.path.join(os.path.dirname(sys.executable), "ipcluster")
    ipython_dir = tempfile.mkdtemp(prefix="ppbench-ipython-")
    env = dict(os.environ, IPYTHONDIR=ipython_dir, PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    profile_dir = os.path.join(ipython_dir, "profile_default")
    cluster = None
    try:
        t0 = time.perf_counter()
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
            time.sleep(0.01)
        rc = None
        while rc is None:
            try:
                rc = ipp.Client(conn, timeout=30)
            except Exception:
                if time.time() > deadline:
                    raise
                time.sleep(0.05)
        rc.wait_for_engines(4, timeout=120)
        out["ready_local_ms"] = out["ready_proc_ms"] = (time.perf_counter() - t0) * 1e3
        log(f"ipyparallel: 4 engines ready in {out['ready_local_ms']:.0f} ms")
        view = rc.load_balanced_view()
        view.apply_sync(noop)  # warm up: functions pickled, engines' imports done

        walls = []
        for _ in range(sizes["recipe_runs"]):
            t = time.perf_counter()
            ar = view.map_async(square_after_sleep, range(100))
            ar.get()
            walls.append(time.perf_counter() - t)
        out["recipe_local_s"] = median(walls)
        log(f"ipyparallel: recipe {out['recipe_local_s']:.3f} s")

        n = sizes["noops_slow"]
        t = time.perf_counter()
        ar = view.map_async(noop, range(n), chunksize=1)
        ar.get()
        out["noop_local_per_s"] = n / (time.perf_counter() - t)
        out["noop_proc_per_s"] = out["noop_local_per_s"]
        log(f"ipyparallel: {out['noop_local_per_s']:.0f} no-op tasks/s")

        trips = []
        for _ in range(sizes["trips_slow"]):
            t = time.perf_counter()
            view.apply_sync(noop)
            trips.append((time.perf_counter() - t) * 1e6)
        p50, p99 = percentiles(trips)
        out["rtt_local_p50_us"], out["rtt_local_p99_us"] = p50, p99
        out["rtt_proc_p50_us"], out["rtt_proc_p99_us"] = p50, p99
        log(f"ipyparallel: round trip p50 {p50:.0f} us, p99 {p99:.0f} us")

        # Memory per task record: the controller (hub + schedulers) and this client, over n more tasks.
        controllers = controller_pids(cluster.pid)
        rc.purge_everything()
        before = sum(rss_bytes(p) for p in controllers) + rss_bytes(os.getpid())
        n = sizes["memory_slow"]
        ar = view.map_async(noop, range(n), chunksize=1)
        ar.get()
        _ = ar.metadata
        after = sum(rss_bytes(p) for p in controllers) + rss_bytes(os.getpid())
        out["memory_per_task_bytes"] = (after - before) / n
        log(f"ipyparallel: {out['memory_per_task_bytes']:.0f} B per task record (controller + client RSS)")
        rc.close()
    finally:
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


# ---------------------------------------------------------------- Dask


def run_dask(sizes, out):
    from dask.distributed import Client, LocalCluster

    t0 = time.perf_counter()
    cluster = LocalCluster(
        n_workers=4, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=50
    )
    try:
        client = Client(cluster)
        client.wait_for_workers(4)
        out["ready_local_ms"] = out["ready_proc_ms"] = (time.perf_counter() - t0) * 1e3
        log(f"dask: 4 workers ready in {out['ready_local_ms']:.0f} ms")
        client.submit(noop, 0, pure=False).result()

        walls = []
        for _ in range(sizes["recipe_runs"]):
            t = time.perf_counter()
            futures = client.map(square_after_sleep, range(100), pure=False)
            client.gather(futures)
            walls.append(time.perf_counter() - t)
            del futures
        out["recipe_local_s"] = median(walls)
        log(f"dask: recipe {out['recipe_local_s']:.3f} s")

        n = sizes["noops_slow"]
        t = time.perf_counter()
        futures = client.map(noop, range(n), pure=False)
        client.gather(futures)
        out["noop_local_per_s"] = n / (time.perf_counter() - t)
        out["noop_proc_per_s"] = out["noop_local_per_s"]
        del futures
        log(f"dask: {out['noop_local_per_s']:.0f} no-op tasks/s")

        trips = []
        for _ in range(sizes["trips_slow"]):
            t = time.perf_counter()
            client.submit(noop, 0, pure=False).result()
            trips.append((time.perf_counter() - t) * 1e6)
        p50, p99 = percentiles(trips)
        out["rtt_local_p50_us"], out["rtt_local_p99_us"] = p50, p99
        out["rtt_proc_p50_us"], out["rtt_proc_p99_us"] = p50, p99
        log(f"dask: round trip p50 {p50:.0f} us, p99 {p99:.0f} us")

        # Memory per task record: the scheduler lives in this process; the futures hold the records.
        time.sleep(0.5)
        before = rss_bytes(os.getpid())
        n = sizes["memory_slow"]
        futures = client.map(noop, range(n), pure=False)
        client.gather(futures)
        time.sleep(0.5)
        after = rss_bytes(os.getpid())
        out["memory_per_task_bytes"] = (after - before) / n
        log(f"dask: {out['memory_per_task_bytes']:.0f} B per task record (scheduler + client RSS)")
        del futures
        client.close()
    finally:
        cluster.close()


# ---------------------------------------------------------------- multiprocessing


def run_multiprocessing(sizes, out):
    t0 = time.perf_counter()
    with multiprocessing.Pool(4) as pool:
        pool.apply(noop, (0,))
        out["ready_local_ms"] = out["ready_proc_ms"] = (time.perf_counter() - t0) * 1e3
        walls = []
        for _ in range(sizes["recipe_runs"]):
            t = time.perf_counter()
            pool.map(square_after_sleep, range(100), chunksize=1)
            walls.append(time.perf_counter() - t)
        out["recipe_local_s"] = median(walls)
        n = sizes["noops_fast"]
        t = time.perf_counter()
        pool.map(noop, range(n), chunksize=1)
        out["noop_proc_per_s"] = n / (time.perf_counter() - t)
        trips = []
        for _ in range(sizes["trips_fast"]):
            t = time.perf_counter()
            pool.apply(noop, (0,))
            trips.append((time.perf_counter() - t) * 1e6)
        out["rtt_proc_p50_us"], out["rtt_proc_p99_us"] = percentiles(trips)
    log(
        f"multiprocessing: recipe {out['recipe_local_s']:.3f} s, {out['noop_proc_per_s']:.0f} no-op tasks/s, "
        f"round trip p50 {out['rtt_proc_p50_us']:.0f} us"
    )


# ---------------------------------------------------------------- /bin/true, 4 at a time


def run_spawners(sizes, results):
    n = sizes["spawns"]
    runs = sizes["spawn_runs"]
    cmds = {}
    if shutil.which("parallel"):
        cmds["gnu_parallel"] = f"seq {n} | parallel -j4 /bin/true"
    cmds["xargs"] = f"seq {n} | xargs -P4 -n1 /bin/true"
    samples = {k: [] for k in cmds}
    for _ in range(runs):  # interleaved: the machine's noise falls on each alike
        for name, cmd in cmds.items():
            t = time.perf_counter()
            subprocess.run(["bash", "-c", cmd], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            samples[name].append(n / (time.perf_counter() - t))
    for name, s in samples.items():
        results.setdefault(name, {})["true_per_s"] = median(s)
        log(f"{name}: /bin/true {median(s):.0f} tasks/s (median of {runs})")
    run_shell_recipe(sizes, results)


def run_shell_recipe(sizes, results):
    """The recipe as shell tasks (ppdash-bench's recipe_shell_cli_s): `sleep 0.1; echo $((x*x))` for x in 0..99, 4 at
    a time, spawn to exit, the printed squares checked; in runs of 3 taken in turns, the worst run's median (as
    ppdash-bench reports it)."""
    task = "sleep 0.1; echo $(({}*{}))"
    cmds = {}
    if shutil.which("parallel"):
        cmds["gnu_parallel"] = ["parallel", "-j4", task, ":::"] + [str(x) for x in range(100)]
    cmds["xargs"] = ["bash", "-c", f"seq 0 99 | xargs -P4 -I{{}} sh -c '{task}'"]
    want = sorted(x * x for x in range(100))
    runs = sizes["recipe_runs"]
    walls = {k: [[] for _ in range(runs)] for k in cmds}
    for r in range(runs):
        for _ in range(3):
            for name, argv in cmds.items():
                t = time.perf_counter()
                out = subprocess.run(argv, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL).stdout
                walls[name][r].append(time.perf_counter() - t)
                got = sorted(int(v) for v in out.split())
                if got != want:
                    raise RuntimeError(f"{name}: the shell recipe printed wrong values")
    for name, w in walls.items():
        results.setdefault(name, {})["recipe_shell_cli_s"] = max(median(x) for x in w)
        shown = ", ".join(f"{min(x):.3f}/{median(x):.3f}" for x in w)
        log(f"{name}: the recipe as shell tasks, runs of 3 (best/median) {shown} s")


def main():
    # A SIGTERM (bench/compare's trap) unwinds through the finally blocks that stop the clusters.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="ipyparallel,dask,multiprocessing,spawners")
    args = ap.parse_args()
    quick = args.quick
    sizes = {
        "recipe_runs": 1 if quick else 3,
        "noops_slow": 1000 if quick else 5000,
        "noops_fast": 20000 if quick else 200000,
        "trips_slow": 100 if quick else 500,
        "trips_fast": 1000 if quick else 10000,
        "memory_slow": 2000 if quick else 10000,
        "spawns": 300 if quick else 1000,
        "spawn_runs": 3 if quick else 5,
    }
    results = {}
    steps = {
        "ipyparallel": run_ipyparallel,
        "dask": run_dask,
        "multiprocessing": run_multiprocessing,
    }
    for name in args.only.split(","):
        if name == "spawners":
            run_spawners(sizes, results)
            continue
        out = {}
        try:
            steps[name](sizes, out)
        except Exception as e:  # a peer that fails is reported, the others still run
            log(f"{name} failed: {e!r}")
            out["error"] = repr(e)
        results[name] = out
    versions = {}
    for mod, key in (("ipyparallel", "ipyparallel"), ("distributed", "dask")):
        try:
            versions[key] = __import__(mod).__version__
        except Exception:
            pass
    versions["multiprocessing"] = "Python " + sys.version.split()[0]
    try:
        v = subprocess.run(["parallel", "--version"], capture_output=True, text=True).stdout.split("\n")[0]
        versions["gnu_parallel"] = v.replace("GNU parallel ", "")
    except OSError:
        pass
    versions["xargs"] = "findutils"
    print(json.dumps({"peers": results, "versions": versions}, indent=1))


if __name__ == "__main__":
    main()
