#!/usr/bin/env bash
# The README's main command: Snakemake with the default profile (workflow/profiles/default:
# --rerun-incomplete and friends), in the current directory, after clearing the lock that a
# Snakemake killed outright (SIGKILL, a lost session) leaves behind. Every argument goes to
# Snakemake, e.g.  bash workflow/scripts/run.sh --cores 2 --configfile config/cpu.yaml
# Rerun the same command after any interrupt: finished jobs are kept, killed ones resume from
# their checkpoints.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
SNAKEMAKE=${SNAKEMAKE:-$REPO/.venv/bin/snakemake}
[ -x "$SNAKEMAKE" ] || SNAKEMAKE=snakemake  # e.g. inside the conda environment
COMMAND=("$SNAKEMAKE" --snakefile "$REPO/Snakefile" --profile "$REPO/workflow/profiles/default")

# A process of a Snakemake run here (Snakemake itself or one of its jobs) other than this script.
snakemake_running_here() {
    local proc
    for proc in /proc/[0-9]*; do
        [ "${proc#/proc/}" = "$$" ] && continue
        [ "$(readlink "$proc/cwd" 2>/dev/null)" = "$PWD" ] || continue
        tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -q snakemake && return 0
    done
    return 1
}

if [ -n "$(ls -A .snakemake/locks 2>/dev/null)" ] && ! snakemake_running_here; then
    echo "run.sh: no Snakemake runs here any more; removing the lock it left" >&2
    "${COMMAND[@]}" --unlock "$@"
fi
exec "${COMMAND[@]}" "$@"
