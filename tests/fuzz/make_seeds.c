/*
 * Writes the seed corpora of the engine's fuzz targets, with the engine's own
 * writers, into DIR/<target>/ (tools/fuzz.sh seeds runs it on
 * tests/fuzz/corpus). Each seed is small (a few KB at most) and shows the
 * fuzzer one shape of valid input: empty, one entry, many, binary keys with
 * NUL bytes, tombstones, compression, a torn tail.
 *
 *     lsmkv_fuzz_seeds DIR
 */
#include "compression.h"
#include "file.h"
#include "harness.h"
#include "internal_key.h"
#include "manifest.h"
#include "sstable_builder.h"
#include "table_info.h"
#include "wal.h"
#include "write_batch.h"

#include "lsmkv/v1/kv.pb-c.h"
#include "lsmkv/v1/rpc.pb-c.h"

#include <string.h>
#include <sys/stat.h>

static const char *root;

static void
seed_path(char *out, const char *target, const char *name)
{
    snprintf(out, 4096, "%s/%s", root, target);
    mkdir(out, 0755);
    snprintf(out, 4096, "%s/%s/%s", root, target, name);
}

static void
write_seed(const char *target, const char *name, const void *data, size_t len)
{
    char path[4096];
    seed_path(path, target, name);
    harness_write_file(path, data, len);
}

static void
check(int rc, const char *what)
{
    if (rc != LSMKV_OK) {
        fprintf(stderr, "make_seeds: %s failed (%d)\n", what, rc);
        exit(1);
    }
}

/* ---- write batches and WAL segments ----------------------------------------------------- */

/* Batch number n: a mix of puts and deletes, binary keys, an empty value. */
static void
make_batch(write_batch *b, int n)
{
    write_batch_init(b);
    for (int i = 0; i < n; i++) {
        char key[16];
        int len = snprintf(key, sizeof(key), "key%02d", i);
        if (i % 4 == 3) {
            write_batch_delete(b, slice_make((const uint8_t *)key, (size_t)len));
        } else {
            uint8_t value[40];
            memset(value, 'a' + i, sizeof(value));
            write_batch_put(b, slice_make((const uint8_t *)key, (size_t)len),
                            slice_make(value, (size_t)(i * 7) % sizeof(value)));
        }
    }
    if (n > 2) {
        write_batch_put(b, slice_make((const uint8_t *)"bin\0key", 7),
                        slice_make((const uint8_t *)"\0\1\2", 3));
    }
    write_batch_set_sequence(b, (uint64_t)n * 100 + 1);
}

static void
make_batches(void)
{
    static const int sizes[] = {0, 1, 4, 12};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        write_batch b;
        make_batch(&b, sizes[i]);
        char name[32];
        snprintf(name, sizeof(name), "batch-%d-ops", sizes[i]);
        slice s = write_batch_contents(&b);
        write_seed("write_batch", name, s.data, s.len);
        write_batch_fini(&b);
    }
}

/* A segment of `records` batches; cut > 0 tears that many bytes off its end. */
static void
make_segment(const char *name, int records, size_t cut)
{
    char path[4096];
    harness_path(path, "seed.wal");
    file_remove(path, NULL);
    wal_writer *w;
    check(wal_writer_open(path, &w, NULL), "wal_writer_open");
    buffer framed;
    buffer_init(&framed);
    for (int i = 0; i < records; i++) {
        write_batch b;
        make_batch(&b, 1 + i % 5);
        buffer_clear(&framed);
        wal_frame_record(&framed, write_batch_contents(&b));
        check(wal_writer_append(w, buffer_slice(&framed), NULL), "wal_writer_append");
        write_batch_fini(&b);
    }
    check(wal_writer_close(w, true, NULL), "wal_writer_close");
    buffer contents;
    buffer_init(&contents);
    check(file_read_all(path, &contents, NULL), "read the segment");
    write_seed("wal_reader", name, contents.data, contents.len - cut);
    buffer_fini(&contents);
    buffer_fini(&framed);
}

static void
make_segments(void)
{
    make_segment("segment-empty", 0, 0);
    make_segment("segment-1-record", 1, 0);
    make_segment("segment-6-records", 6, 0);
    make_segment("segment-torn-tail", 4, 5);
    make_segment("segment-torn-header", 0, 7);
}

/* ---- SSTables ---------------------------------------------------------------------------- */

static void
make_table(const char *name, int keys, int compression, int bloom_bits, size_t block_bytes)
{
    char path[4096];
    harness_path(path, "seed.sst");
    file_remove(path, NULL);
    sstable_builder_options o = {
        .block_bytes = block_bytes, .bloom_bits_per_key = bloom_bits, .compression = compression};
    sstable_builder *b;
    check(sstable_builder_open(path, &o, &b, NULL), "sstable_builder_open");
    buffer key, value;
    buffer_init(&key);
    buffer_init(&value);
    for (int i = 0; i < keys; i++) {
        char user[16];
        int len = snprintf(user, sizeof(user), "k%03d", i);
        if (i == 3) {
            memcpy(user, "k002\0x", 6); /* a NUL byte inside a key, still in order */
            len = 6;
        }
        /* Two versions of every third key: a tombstone over a value. */
        int versions = i % 3 == 0 ? 2 : 1;
        for (int v = 0; v < versions; v++) {
            buffer_clear(&key);
            buffer_clear(&value);
            uint64_t sequence = (uint64_t)(1000 - i * 2 - v);
            value_type type = versions == 2 && v == 0 ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE;
            internal_key_append(&key, slice_make((const uint8_t *)user, (size_t)len), sequence,
                                type);
            for (int j = 0; type == VALUE_TYPE_VALUE && j < 10 + i % 30; j++) {
                buffer_append(&value, &"vvvvwxyz"[j % 8], 1);
            }
            check(sstable_builder_add(b, buffer_slice(&key), buffer_slice(&value), NULL),
                  "sstable_builder_add");
        }
    }
    sstable_properties props;
    sstable_properties_init(&props);
    check(sstable_builder_finish(b, &props, NULL), "sstable_builder_finish");
    sstable_properties_fini(&props);
    buffer contents;
    buffer_init(&contents);
    check(file_read_all(path, &contents, NULL), "read the table");
    write_seed("sstable_reader", name, contents.data, contents.len);
    buffer_fini(&contents);
    buffer_fini(&key);
    buffer_fini(&value);
}

static void
make_tables(void)
{
    make_table("table-1-entry", 1, COMPRESSION_NONE, 10, 4096);
    make_table("table-plain", 24, COMPRESSION_NONE, 10, 256);
    make_table("table-no-bloom", 12, COMPRESSION_NONE, 0, 128);
    make_table("table-lz4", 24, COMPRESSION_LZ4, 10, 512);
    make_table("table-zstd", 24, COMPRESSION_ZSTD, 8, 512);
}

/* ---- manifests --------------------------------------------------------------------------- */

static void
make_manifest(const char *name, int tables)
{
    manifest_state s;
    manifest_state_init(&s);
    s.next_file_number = 40;
    s.last_sequence = 12345;
    s.log_number = 30;
    s.table_count = (size_t)tables;
    s.tables = xcalloc((size_t)tables + 1, sizeof(*s.tables));
    for (int i = 0; i < tables; i++) {
        lsmkv_table_info *t = &s.tables[i];
        t->id = (uint64_t)(10 + i);
        t->level = (uint32_t)(i % 3);
        t->size_bytes = 4096u * (unsigned)(i + 1);
        t->entries = (uint64_t)(100 + i);
        t->tombstones = (uint64_t)i;
        t->max_sequence = (uint64_t)(12000 + i);
        char min[8] = {'a', (char)('a' + i), 0, 'x'}, max[4] = {'z', (char)('a' + i)};
        table_info_set_keys(t, slice_make((const uint8_t *)min, 4),
                            slice_make((const uint8_t *)max, 2));
    }
    buffer out;
    buffer_init(&out);
    manifest_encode(&s, &out);
    write_seed("manifest", name, out.data, out.len);
    buffer_fini(&out);
    manifest_state_fini(&s);
}

/* ---- RPC requests (fuzz_rpc) ------------------------------------------------------------ */

/* An RpcRequest for method with the packed message as payload (message NULL: none). */
static void
write_request(const char *name, const char *method, const ProtobufCMessage *message,
              uint32_t timeout_ms)
{
    uint8_t payload[4096];
    Lsmkv__V1__RpcRequest req = LSMKV__V1__RPC_REQUEST__INIT;
    req.method = (char *)method;
    if (message != NULL) {
        req.payload.len = protobuf_c_message_pack(message, payload);
        req.payload.data = payload;
    }
    req.timeout_ms = timeout_ms;
    uint8_t out[8192];
    size_t len = lsmkv__v1__rpc_request__pack(&req, out);
    write_seed("rpc", name, out, len);
}

static ProtobufCBinaryData
bytes_of(const char *data, size_t len)
{
    return (ProtobufCBinaryData){.len = len, .data = (uint8_t *)data};
}

/* One request per method (valid, a few shapes of each), then bad ones. */
static void
make_rpc_requests(void)
{
    Lsmkv__V1__PutRequest put = LSMKV__V1__PUT_REQUEST__INIT;
    put.key = bytes_of("greeting", 8);
    put.value = bytes_of("hello", 5);
    write_request("put", "/lsmkv.v1.KV/Put", &put.base, 0);
    put.key = bytes_of("k\0\xff", 3); /* binary key, empty value, sync=always, a deadline */
    put.value = bytes_of("", 0);
    put.sync = LSMKV__V1__SYNC_MODE__SYNC_ALWAYS;
    write_request("put-binary-sync-deadline", "/lsmkv.v1.KV/Put", &put.base, 5000);
    put.key = bytes_of("", 0); /* empty key: INVALID_ARGUMENT */
    put.sync = LSMKV__V1__SYNC_MODE__SYNC_NONE;
    write_request("put-empty-key", "/lsmkv.v1.KV/Put", &put.base, 0);

    Lsmkv__V1__GetRequest get = LSMKV__V1__GET_REQUEST__INIT;
    get.key = bytes_of("greeting", 8);
    write_request("get", "/lsmkv.v1.KV/Get", &get.base, 0);
    Lsmkv__V1__DeleteRequest del = LSMKV__V1__DELETE_REQUEST__INIT;
    del.key = bytes_of("greeting", 8);
    write_request("delete", "/lsmkv.v1.KV/Delete", &del.base, 1000);
    Lsmkv__V1__FlushRequest flush = LSMKV__V1__FLUSH_REQUEST__INIT;
    write_request("flush", "/lsmkv.v1.KV/Flush", &flush.base, 0);
    Lsmkv__V1__CompactRequest compact = LSMKV__V1__COMPACT_REQUEST__INIT;
    write_request("compact", "/lsmkv.v1.KV/Compact", &compact.base, 0);
    Lsmkv__V1__StatsRequest stats = LSMKV__V1__STATS_REQUEST__INIT;
    write_request("stats", "/lsmkv.v1.KV/Stats", &stats.base, 0);

    write_request("unknown-method", "/lsmkv.v1.KV/Scan", NULL, 0);
    write_request("unknown-service", "/other.Svc/Put", NULL, 0);
    write_request("bad-method-name", "Put", NULL, 0);
    static const uint8_t bad_payload[] = {0x0a, 0x7f, 'k'}; /* key field cut short */
    Lsmkv__V1__RpcRequest req = LSMKV__V1__RPC_REQUEST__INIT;
    req.method = "/lsmkv.v1.KV/Put";
    req.payload = (ProtobufCBinaryData){.len = sizeof(bad_payload), .data = (uint8_t *)bad_payload};
    uint8_t out[256];
    write_seed("rpc", "put-truncated-payload", out, lsmkv__v1__rpc_request__pack(&req, out));
    static const uint8_t garbage[] = {0xff, 0xff, 0xff, 0xff, 0x0f, 0x00, 0x12, 0x80};
    write_seed("rpc", "garbage", garbage, sizeof(garbage));
}

int
main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    root = argv[1];
    mkdir(root, 0755);
    make_batches();
    make_segments();
    make_tables();
    make_manifest("manifest-empty", 0);
    make_manifest("manifest-1-table", 1);
    make_manifest("manifest-5-tables", 5);
    make_rpc_requests();
    return 0;
}
