# Shell helpers shared by the benchmark scripts that start servers themselves
# (bench-vs.sh, bench-namesrv-scale.sh). Source it; it runs nothing.

# Waits until something accepts connections on 127.0.0.1:PORT, for at most SECONDS (30).
wait_port() { # PORT [SECONDS]
    for _ in $(seq 1 $(( ${2:-30} * 10 ))); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on $1" >&2
    return 1
}

# The pid of the process listening on PORT: a start command may be a wrapper script whose
# own pid is not the server's (the JVM).
listener_pid() { # PORT
    ss -ltnpH "sport = :$1" 2>/dev/null | sed -n 's/.*pid=\([0-9]*\).*/\1/p' | head -1
}
