#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine (Debian's slurm-wlm + munge), the reduced
# pipeline (config/test.yaml) submitted through snakemake-executor-plugin-slurm with the
# workflow/profiles/slurm profile, and a check that its results equal a local run's.
#
# Usage (as root, from anywhere): bash workflow/scripts/slurm-test.sh
#   PYTHON            the interpreter whose snakemake and plugin are used (default .venv/bin/python);
#                     SLURM jobs run the same interpreter, so it must be the project's venv
#   SLURM_TEST_TIMEOUT  seconds each snakemake run may take before it is stopped (default 900)
# Exit status: 0 equal results, 1 failure, 77 skipped (not root, slurm-wlm/munge cannot be
# installed, or the host has a SLURM configuration of its own): 77 is the automake "skip" code,
# which tests/test_slurm.py turns into a pytest skip. Needs 8 GB of memory or more: SLURM
# starts no job that asks for more than the node has, and search and retrain ask for 8000 MB.
#
# Everything the cluster writes (config, state, daemon and job logs) lives in a temporary folder
# removed on exit; the pipeline writes results/slurmtest and results/localtest (git-ignored) and
# the shared resources/ folder. Every daemon started here is stopped by the EXIT trap.
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO=$PWD
PYTHON=${PYTHON:-$REPO/.venv/bin/python}
TIMEOUT=${SLURM_TEST_TIMEOUT:-900}
PARTITION=debug
SKIP=77
DAEMON_PIDS=()
CONF_LINK=""
CONF_DIR_CREATED=""

skip() {
    echo "SKIP: $*"
    exit "$SKIP"
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

now() {
    date +%s
}

# --- set-up -----------------------------------------------------------------------------------

require_root_and_packages() {
    [ "$(id -u)" -eq 0 ] || skip "needs root (it installs packages and runs slurmctld, slurmd, munged)"
    [ -x "$PYTHON" ] || fail "PYTHON=$PYTHON is not an executable interpreter"
    local missing=""
    for tool in munged slurmctld slurmd sinfo sbatch squeue scancel; do
        command -v "$tool" >/dev/null || missing="$missing $tool"
    done
    [ -z "$missing" ] && return
    command -v apt-get >/dev/null || skip "slurm-wlm/munge are missing and there is no apt-get to install them"
    echo "Installing slurm-wlm and munge with apt-get (missing:$missing) ..."
    # The package index may be stale or absent (fresh containers): update once, then install.
    # Each apt-get call is time-limited, so that an unreachable mirror ends in a skip, not a hang.
    export DEBIAN_FRONTEND=noninteractive
    if ! timeout 600 apt-get install -y -q --no-install-recommends slurm-wlm munge >"$WORK/apt.log" 2>&1; then
        timeout 300 apt-get update -q >>"$WORK/apt.log" 2>&1 || true
        timeout 600 apt-get install -y -q --no-install-recommends slurm-wlm munge >>"$WORK/apt.log" 2>&1 \
            || skip "apt-get could not install slurm-wlm and munge: $(tail -n 3 "$WORK/apt.log" | tr '\n' ' ')"
    fi
}

# The private munged gets its own key and socket, so it neither needs nor disturbs a system one.
start_munge() {
    mkdir -p "$WORK/munge"
    chmod 711 "$WORK/munge"
    dd if=/dev/urandom of="$WORK/munge/munge.key" bs=1024 count=1 status=none
    chmod 400 "$WORK/munge/munge.key"
    munged --foreground --force --socket="$WORK/munge/socket" --key-file="$WORK/munge/munge.key" \
        --pid-file="$WORK/munge/munged.pid" --seed-file="$WORK/munge/seed" \
        --log-file="$WORK/logs/munged.log" >"$WORK/logs/munged.out" 2>&1 &
    DAEMON_PIDS+=($!)
    for _ in $(seq 50); do
        [ -S "$WORK/munge/socket" ] && return
        sleep 0.2
    done
    fail "munged did not create its socket; munged.log: $(tail -n 20 "$WORK/logs/munged.log" 2>/dev/null)"
}

real_memory_mb() {
    awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo
}

# One node (this machine, as "localhost" so that it needs no name resolution beyond /etc/hosts),
# one partition, no accounting database, no cgroups: the minimum slurmctld and slurmd accept.
# Ports are moved off the defaults so that a host that already runs SLURM is left alone.
# MinJobAge=300 keeps finished jobs visible to squeue for 5 minutes, which the plugin's squeue
# status queries rely on (it falls back to sacct, which fails without accounting, if
# MinJobAge < 3 × its first status-check delay).
write_slurm_conf() {
    mkdir -p "$WORK/etc"
    cat >"$WORK/etc/slurm.conf" <<EOF
ClusterName=autolora-test
SlurmctldHost=localhost
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge/socket
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/logs/slurmctld.log
SlurmdLogFile=$WORK/logs/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
ReturnToService=2
MinJobAge=300
MpiDefault=none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=$(real_memory_mb) State=UNKNOWN
PartitionName=$PARTITION Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF="$WORK/etc/slurm.conf"
}

# snakemake-executor-plugin-slurm-jobstep (0.6) drops every SLURM_* variable, SLURM_CONF
# included, before the `srun` that runs each job inside its allocation; that srun then looks
# for /etc/slurm/slurm.conf and next for /run/slurm/conf/slurm.conf (where slurmd keeps the
# config on "configless" clusters). So /run/slurm/conf is pointed at this cluster's config for
# the duration of the test; a host with a SLURM config of its own is left alone (skipped).
expose_config_to_job_steps() {
    [ -e /etc/slurm/slurm.conf ] && skip "this host has its own /etc/slurm/slurm.conf, which job steps would read instead of the test cluster's"
    [ -e /run/slurm/conf ] && skip "/run/slurm/conf exists (a configless slurmd runs here?); the test cluster's job steps need it"
    [ -d /run/slurm ] || CONF_DIR_CREATED=/run/slurm
    mkdir -p /run/slurm
    ln -s "$WORK/etc" /run/slurm/conf
    CONF_LINK=/run/slurm/conf
}

start_slurm() {
    mkdir -p "$WORK/state" "$WORK/spool"
    slurmctld -D -i >>"$WORK/logs/slurmctld.out" 2>&1 &
    DAEMON_PIDS+=($!)
    slurmd -D -N localhost >>"$WORK/logs/slurmd.out" 2>&1 &
    DAEMON_PIDS+=($!)
}

# A daemon's own log file, or what it printed before it could open one.
show_daemon_logs() {
    local daemon log
    for daemon in slurmctld slurmd munged; do
        log="$WORK/logs/$daemon.log"
        [ -s "$log" ] || log="$WORK/logs/$daemon.out"
        [ -s "$log" ] || continue
        echo "--- last lines of $(basename "$log") ---"
        tail -n 25 "$log"
    done
}

# The SLURM side of failed jobs (the plugin keeps these logs when a job fails).
show_job_logs() {
    local log
    find "$WORK/slurm-logs" -name '*.log' 2>/dev/null | while read -r log; do
        grep -qiE "error|exception|traceback" "$log" || continue
        echo "--- last lines of SLURM job log ${log#"$WORK"/} ---"
        tail -n 30 "$log"
    done
}

wait_for_idle_node() {
    local state=""
    for _ in $(seq 60); do
        state=$(sinfo --noheader --Node --format=%T 2>/dev/null || true)
        [ "$state" = "idle" ] && return
        sleep 1
    done
    show_daemon_logs >&2
    fail "the SLURM node did not become idle within 60 s (sinfo says: '${state:-nothing}')"
}

# --- tear-down ---------------------------------------------------------------------------------

# Cancels this cluster's jobs (all of them are ours) before stopping the daemons, so that no job
# step outlives slurmd; then stops the daemons in reverse start order, by PID.
cleanup() {
    local status=$?
    if [ -n "${SLURM_CONF:-}" ] && [ -S "$WORK/munge/socket" ]; then
        scancel --full --quiet --partition="$PARTITION" 2>/dev/null || true
        for _ in $(seq 10); do
            [ -z "$(squeue --noheader --states=RUNNING,PENDING,COMPLETING 2>/dev/null)" ] && break
            sleep 1
        done
    fi
    local index
    for ((index = ${#DAEMON_PIDS[@]} - 1; index >= 0; index--)); do
        kill "${DAEMON_PIDS[index]}" 2>/dev/null || true
        wait "${DAEMON_PIDS[index]}" 2>/dev/null || true
    done
    [ -n "$CONF_LINK" ] && rm -f "$CONF_LINK"
    [ -n "$CONF_DIR_CREATED" ] && rmdir "$CONF_DIR_CREATED" 2>/dev/null
    rm -rf "$WORK"
    exit "$status"
}

# --- the two runs ------------------------------------------------------------------------------

# SLURM run, with the profile's partition variable set to this cluster's partition:
# squeue status queries (no accounting database here, so sacct cannot answer) and a
# short first status check (the plugin's default of 40 s would dominate this tiny DAG).
# The reduced config's GLUE tasks with AutoLoRA alone: the data-to-text tasks (SmolLM2) and the
# baselines would multiply the time of both runs and exercise nothing more of SLURM.
write_glue_config() {
    PYTHONPATH=$REPO "$PYTHON" - "$WORK/config.yaml" <<'EOF'
import sys, yaml
from autolora.tasks import family_of
config = yaml.safe_load(open("config/test.yaml"))
config["tasks"] = [task for task in config["tasks"] if family_of(task) == "glue"]
config["task_overrides"] = {t: o for t, o in config.get("task_overrides", {}).items() if t in config["tasks"]}
for key in ("methods", "ablations", "method_tasks"):
    config.pop(key, None)
yaml.safe_dump(config, open(sys.argv[1], "w"))
EOF
}

run_on_slurm() {
    rm -rf results/slurmtest
    AUTOLORA_SLURM_PARTITION=$PARTITION timeout --kill-after=30 "$TIMEOUT" \
        "$PYTHON" -m snakemake --profile workflow/profiles/slurm \
        --configfile "$WORK/config.yaml" --config run=slurmtest \
        --slurm-status-command squeue --slurm-init-seconds-before-status-checks 5 \
        --slurm-logdir "$WORK/slurm-logs" --slurm-keep-successful-logs \
        >"$WORK/logs/snakemake-slurm.log" 2>&1
}

run_locally() {
    rm -rf results/localtest
    timeout --kill-after=30 "$TIMEOUT" "$PYTHON" -m snakemake --profile workflow/profiles/default \
        --configfile "$WORK/config.yaml" --config run=localtest \
        >"$WORK/logs/snakemake-local.log" 2>&1
}

# Runs one of the above and leaves its duration in ELAPSED; on failure shows the end of its
# log, the failed jobs' SLURM logs and the daemons' logs.
timed() {
    local name=$1 log=$2 start status=0
    start=$(now)
    "$name" || status=$?
    ELAPSED=$(($(now) - start))
    if [ "$status" -ne 0 ]; then
        [ "$status" -eq 124 ] && echo "$name: stopped after SLURM_TEST_TIMEOUT=$TIMEOUT s" >&2
        echo "--- last lines of $(basename "$log") ---" >&2
        tail -n 40 "$log" >&2
        show_job_logs >&2
        show_daemon_logs >&2
        fail "$name failed (exit status $status)"
    fi
}

# e.g. "12 (evaluate 4, retrain 4, search 4)": prepare and tokenize only appear when their
# outputs in the shared resources/ folder were missing; ranks and the report rules are local rules.
submitted_jobs() {
    local per_rule
    per_rule=$(grep -o 'submitted with SLURM jobid .*/rule_[a-z_]*/' "$WORK/logs/snakemake-slurm.log" \
        | sed 's|.*/rule_\([a-z_]*\)/|\1|' | sort | uniq -c | awk '{printf "%s%s %s", sep, $2, $1; sep=", "}')
    echo "$(grep -c 'submitted with SLURM jobid' "$WORK/logs/snakemake-slurm.log") ($per_rule)"
}

# ranks.json byte for byte; metrics.json as parsed values (every field, the scores included).
compare_results() {
    "$PYTHON" - <<'EOF'
import json, pathlib, sys

slurm, local = pathlib.Path("results/slurmtest/glue"), pathlib.Path("results/localtest/glue")
jobs = sorted(path.relative_to(local).parent for path in local.glob("*/seed*/metrics.json"))
if not jobs:
    sys.exit("compare: the local run left no metrics.json under results/localtest/glue")
differences = []
for job in jobs:
    if (slurm / job / "ranks.json").read_bytes() != (local / job / "ranks.json").read_bytes():
        differences.append(f"{job}/ranks.json")
    ours, theirs = (json.loads((root / job / "metrics.json").read_text()) for root in (slurm, local))
    if ours != theirs:
        differences.append(f"{job}/metrics.json: slurm {ours['metrics']} vs local {theirs['metrics']}")
if differences:
    sys.exit("compare: SLURM and local results differ:\n  " + "\n  ".join(differences))
for job in jobs:
    metrics = json.loads((slurm / job / "metrics.json").read_text())
    print(f"  {job}: ranks.json identical, {metrics['main_metric']} = {metrics['metrics'][metrics['main_metric']]} in both")
EOF
}

# What ran where: the start and end of the SLURM run's job lines, and one job's SLURM log.
show_excerpt() {
    local lines job_log
    lines=$(grep -E "SLURM run ID|submitted with SLURM jobid|Finished jobid|steps \([0-9]+%\) done" \
        "$WORK/logs/snakemake-slurm.log")
    echo "--- snakemake log of the SLURM run (excerpt) ---"
    head -n 6 <<<"$lines"
    echo "    [...]"
    tail -n 4 <<<"$lines"
    job_log=$(find "$WORK/slurm-logs" -name '*.log' -path '*rule_search*' 2>/dev/null | head -n 1)
    if [ -n "$job_log" ]; then
        echo "--- end of one job's SLURM log (${job_log#"$WORK"/}) ---"
        grep -vE "^\s*$" "$job_log" | tail -n 6
    fi
}

main() {
    WORK=$(mktemp -d /tmp/autolora-slurm.XXXXXX)
    chmod 711 "$WORK"  # munged wants every folder above its socket searchable by all users
    mkdir -p "$WORK/logs"
    trap cleanup EXIT
    require_root_and_packages
    local start
    start=$(now)
    start_munge
    write_slurm_conf
    expose_config_to_job_steps
    start_slurm
    wait_for_idle_node
    write_glue_config
    local cluster_seconds=$(($(now) - start))
    echo "SLURM $(sinfo --version | awk '{print $2}') up in ${cluster_seconds} s: $(sinfo --noheader --Node --format='%N %P %c CPUs %m MB %T')"
    timed run_on_slurm "$WORK/logs/snakemake-slurm.log"
    local slurm_seconds=$ELAPSED
    echo "SLURM run (results/slurmtest): ${slurm_seconds} s, jobs submitted: $(submitted_jobs)"
    timed run_locally "$WORK/logs/snakemake-local.log"
    echo "local run (results/localtest): ${ELAPSED} s"
    show_excerpt
    echo "--- comparison ---"
    compare_results
    echo "PASS: timings: cluster start ${cluster_seconds} s, SLURM run ${slurm_seconds} s, local run ${ELAPSED} s"
}

main "$@"
