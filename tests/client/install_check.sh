#!/bin/sh
# CTest client.install: installs the build into a temporary prefix, checks
# that liblsmkv-client exports only the public API, and builds and runs a
# small C program against the installed library twice: with pkg-config
# (lsmkv-client.pc) and with CMake (find_package(lsmkv-client), target
# lsmkv::client). The program needs no server: it expects UNAVAILABLE.
#
# usage: install_check.sh BUILD_DIR WORK_DIR C_COMPILER [SANITIZERS]
set -eu
build=$1
work=$2
cc=$3
sanitize=${4:-}
flags=""
if [ -n "$sanitize" ]; then
    # An instrumented library needs its runtime in the program too.
    flags="-fsanitize=$sanitize"
fi

rm -rf "$work"
mkdir -p "$work/src"
prefix="$work/prefix"
cmake --install "$build" --prefix "$prefix" >/dev/null

pc=$(find "$prefix" -name lsmkv-client.pc)
lib=$(find "$prefix" -name 'liblsmkv-client.so' | head -n 1)
test -n "$pc" && test -n "$lib" && test -f "$prefix/include/lsmkv/client.h"
test -x "$prefix/bin/lsmkv-cli"

# Only lsmkv_client_* may be exported (the protobuf and nng glue stays inside).
leaked=$(nm -D --defined-only "$lib" | awk '{print $3}' | grep -v '^lsmkv_client_' |
         grep -v '^__\(asan\|ubsan\|sanitizer\|odr_asan\)' || true)
if [ -n "$leaked" ]; then
    echo "liblsmkv-client.so exports more than lsmkv_client_*:" >&2
    echo "$leaked" >&2
    exit 1
fi

cat > "$work/src/main.c" <<'C'
#include <lsmkv/client.h>
#include <stdio.h>

int
main(void)
{
    lsmkv_client_options options;
    lsmkv_client_options_init(&options);
    options.timeout_ms = 50;
    lsmkv_client *client;
    lsmkv_client_error err;
    if (lsmkv_client_open("tcp://127.0.0.1:1", &options, &client, &err) != LSMKV_CLIENT_OK) {
        fprintf(stderr, "open: %s\n", err.message);
        return 1;
    }
    int rc = lsmkv_client_put(client, (const uint8_t *)"k", 1, (const uint8_t *)"v", 1,
                              LSMKV_CLIENT_SYNC_ALWAYS, NULL, &err);
    lsmkv_client_close(client);
    if (rc != LSMKV_CLIENT_UNAVAILABLE) {
        fprintf(stderr, "put: %s\n", lsmkv_client_status_name(rc));
        return 1;
    }
    printf("lsmkv-client %s: %s\n", lsmkv_client_version(), lsmkv_client_status_name(rc));
    return 0;
}
C

# 1. pkg-config
pcdir=$(dirname "$pc")
# shellcheck disable=SC2046
"$cc" $flags -std=c11 -Wall -Werror -o "$work/main-pc" "$work/src/main.c" \
    $(PKG_CONFIG_PATH="$pcdir" pkg-config --cflags --libs lsmkv-client)
LD_LIBRARY_PATH=$(dirname "$lib") "$work/main-pc"

# 2. CMake
cat > "$work/src/CMakeLists.txt" <<'CMAKE'
cmake_minimum_required(VERSION 3.18)
project(lsmkv_client_consumer C)
find_package(lsmkv-client 0.1 REQUIRED)
add_executable(main-cmake main.c)
target_link_libraries(main-cmake PRIVATE lsmkv::client)
CMAKE
cmake -S "$work/src" -B "$work/cmake-build" -G Ninja -DCMAKE_C_COMPILER="$cc" \
    -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$flags" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/main-cmake"

rm -rf "$work"
