# Shared helpers of the nomadctl example stand-in executables (POSIX sh, sourced).
# A stand-in prints how it was started (argv and the environment AliECS/nomadctl set up), then
# either runs until SIGTERM (long-running tasks) or exits with a chosen code (hooks).

standin_report() {
    standin_name=$1
    shift
    echo "[$standin_name] pid $$ on $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for arg in "$@"; do
        printf '[%s] arg: %s\n' "$standin_name" "$arg"
    done
    for var in O2_PARTITION O2_DETECTOR O2_ROLE O2_SYSTEM OCC_CONTROL_PORT DATADIST_FEE_MASK \
               OMP_NUM_THREADS HOOK_EXIT_CODE NOMAD_ALLOC_ID NOMAD_GROUP_NAME; do
        eval "value=\${$var-}"
        if [ -n "$value" ]; then
            printf '[%s] env: %s=%s\n' "$standin_name" "$var" "$value"
        fi
    done
}

# Report, then run until SIGTERM/SIGINT (Nomad stops a task with SIGTERM) and exit 0.
# The trap is installed before anything else so an early stop is never lost.
standin_serve() {
    standin_name=$1
    standin_child=
    trap 'if [ -n "$standin_child" ]; then kill "$standin_child" 2>/dev/null; fi; echo "[$standin_name] stopped by signal"; exit 0' TERM INT
    standin_report "$@"
    while :; do
        sleep 1 &  # short, so a stop between fork and wait leaves no long-lived orphan
        standin_child=$!
        wait "$standin_child"
    done
}

# Exit with the code given as --exit-code N / --exit-code=N, else $HOOK_EXIT_CODE, else 0.
standin_exit() {
    code=${HOOK_EXIT_CODE:-0}
    while [ $# -gt 0 ]; do
        case $1 in
            --exit-code) shift; code=${1:-0} ;;
            --exit-code=*) code=${1#--exit-code=} ;;
        esac
        shift
    done
    case $code in
        ''|*[!0-9]*) echo "[$standin_name] bad exit code '$code'"; exit 2 ;;
    esac
    echo "[$standin_name] done, exit code $code"
    exit "$code"
}
