#!/bin/sh
# crash.detects_loss: lsmkv-crash must catch a server that loses acknowledged
# writes. The "server" here is a wrapper that, from its second start on (the
# restarts after each kill), deletes the store's WAL segments before starting
# the real lsmkv-server, so every write not yet in an SSTable is gone.
#
#   crash_detects_loss.sh LSMKV_CRASH LSMKV_SERVER LSMKV_DUMP TMPDIR
set -u
crash=$1 server=$2 dump=$3 tmp=$4

work=$(mktemp -d "$tmp/crash-detects-loss-XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT

cat >"$work/losing-server" <<WRAPPER
#!/bin/sh
dir= prev=
for arg in "\$@"; do
    [ "\$prev" = --data-dir ] && dir=\$arg
    prev=\$arg
done
starts=\$(cat "$work/starts" 2>/dev/null || echo 0)
echo \$((starts + 1)) >"$work/starts"
[ "\$starts" -ge 1 ] && rm -f "\$dir"/*.wal
exec "$server" "\$@"
WRAPPER
chmod +x "$work/losing-server"

# Flushes are rare, so the memtable (and the WAL) holds the writes at the kill;
# the seed fixes the kill point of round 1 (245 writes), and the run must stop
# there with losses.
"$crash" --server "$work/losing-server" --dump "$dump" --dir "$work/run" --rounds 3 \
    --writers 2 --keys 200 --ops 400 --flush-every 100000 --seed 3 >"$work/out" 2>&1
status=$?
cat "$work/out"
if [ "$status" -ne 1 ]; then
    echo "FAIL: lsmkv-crash exited $status against a server that loses its WAL (1 expected)"
    exit 1
fi
if ! grep -q '^  LOSS ' "$work/out" || grep -q '^losses: 0,' "$work/out"; then
    echo "FAIL: no loss was reported"
    exit 1
fi
echo "ok: the losses were reported and the run failed"
