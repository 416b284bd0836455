/*
 * lsmkv-dump sst FILE: one table's footer, properties, bloom filter, index
 * and entries, and the verification of every block. Sections come in file
 * order of interest (metadata first); the entries are listed by a second
 * pass so that the block list, which needs the first pass's results, can
 * precede them.
 */
#include "dump.h"
#include "dump_output.h"
#include "dump_table.h"

#include "compression.h"

#include <inttypes.h>
#include <stdio.h>

static void
write_footer(dump_out *out, const sstable_reader *r)
{
    const sstable_footer *f = sstable_reader_footer(r);
    char magic[32];
    snprintf(magic, sizeof(magic), "0x%016" PRIx64, (uint64_t)SSTABLE_MAGIC);
    dump_out_object(out, "footer");
    dump_out_str(out, "magic", magic);
    dump_out_u64(out, "format_version", f->version);
    dump_out_u64(out, "bloom_offset", f->bloom.offset);
    dump_out_u64(out, "bloom_size", f->bloom.size);
    dump_out_u64(out, "index_offset", f->index.offset);
    dump_out_u64(out, "index_size", f->index.size);
    dump_out_u64(out, "properties_offset", f->properties.offset);
    dump_out_u64(out, "properties_size", f->properties.size);
    dump_out_end(out);
}

static void
write_properties(dump_out *out, const sstable_reader *r)
{
    const sstable_properties *p = sstable_reader_properties(r);
    dump_out_object(out, "properties");
    dump_out_u64(out, "entries", p->entries);
    dump_out_u64(out, "tombstones", p->tombstones);
    dump_out_u64(out, "min_sequence", p->min_sequence);
    dump_out_u64(out, "max_sequence", p->max_sequence);
    dump_out_bytes(out, "min_key", buffer_slice(&p->min_key));
    dump_out_bytes(out, "max_key", buffer_slice(&p->max_key));
    dump_out_str(out, "compression", compression_name((int)p->compression));
    dump_out_u64(out, "data_blocks", p->data_blocks);
    dump_out_u64(out, "data_bytes", p->data_bytes);
    dump_out_end(out);
}

/* Bits per key is an estimate: the filter's bits over the distinct user keys read. */
static void
write_bloom(dump_out *out, const sstable_reader *r, const dump_table *t)
{
    size_t bytes = sstable_reader_bloom(r).len;
    dump_out_object(out, "bloom");
    dump_out_u64(out, "bytes", bytes);
    if (bytes > 0 && t->distinct_keys > 0 && t->bad_blocks == 0) {
        dump_out_u64(out, "keys", t->distinct_keys);
        dump_out_double(out, "bits_per_key", (double)bytes * 8.0 / (double)t->distinct_keys);
    }
    dump_out_end(out);
}

static void
write_block(dump_out *out, const dump_block *b)
{
    dump_out_object(out, NULL);
    dump_out_u64(out, "offset", b->handle.offset);
    dump_out_u64(out, "size", b->handle.size);
    dump_out_str(out, "compression", b->compression < 0 ? "?" : compression_name(b->compression));
    dump_out_u64(out, "entries", b->entries);
    parsed_internal_key k;
    if (internal_key_parse(buffer_slice(&b->last_key), &k)) {
        dump_out_bytes(out, "last_key", k.user_key);
        dump_out_u64(out, "last_sequence", k.sequence);
    } else {
        dump_out_bytes(out, "last_key", buffer_slice(&b->last_key));
    }
    dump_out_str(out, "status", b->ok ? "ok" : "bad");
    dump_out_end(out);
}

static void
write_index(dump_out *out, const dump_table *t, bool blocks)
{
    dump_out_object(out, "index");
    dump_out_u64(out, "block_count", t->block_count);
    dump_out_u64(out, "data_bytes", t->data_bytes);
    if (blocks) {
        dump_out_array(out, "blocks");
        for (size_t i = 0; i < t->block_count; i++) {
            write_block(out, &t->blocks[i]);
        }
        dump_out_end(out);
    }
    dump_out_end(out);
}

typedef struct entry_lister {
    dump_out *out;
    uint64_t limit;
    uint64_t listed;
} entry_lister;

static bool
list_entry(void *ctx, const parsed_internal_key *k, slice value)
{
    entry_lister *l = ctx;
    if (l->listed == l->limit) {
        return false;
    }
    dump_out_object(l->out, NULL);
    dump_out_bytes(l->out, "key", k->user_key);
    dump_out_u64(l->out, "sequence", k->sequence);
    dump_out_str(l->out, "type", k->type == VALUE_TYPE_DELETION ? "del" : "put");
    if (k->type == VALUE_TYPE_VALUE) {
        dump_out_bytes(l->out, "value", value);
    }
    dump_out_end(l->out);
    l->listed++;
    return true;
}

/* A second pass over the blocks that read; its findings repeat the first's. */
static void
write_entries(dump_out *out, sstable_reader *r, uint64_t limit)
{
    entry_lister l = {.out = out, .limit = limit};
    dump_table t;
    dump_table_init(&t);
    dump_out_array(out, "entries");
    dump_table_scan(r, list_entry, &l, &t);
    dump_out_end(out);
    dump_out_u64(out, "entries_listed", l.listed);
    if (!t.complete) {
        dump_out_bool(out, "entries_limited", true);
    }
    dump_table_fini(&t);
}

static void
write_check(dump_out *out, const dump_table *t)
{
    dump_out_object(out, "check");
    dump_out_u64(out, "blocks_checked", t->block_count);
    dump_out_u64(out, "bad_blocks", t->bad_blocks);
    dump_out_u64(out, "entries_read", t->entries);
    dump_issues_write(out, "issues", &t->issues);
    dump_out_end(out);
}

int
dump_sst_command(const dump_options *o)
{
    dump_out *out = dump_out_new(stdout, o->json, o->full ? 0 : DUMP_PREVIEW_BYTES);
    dump_out_str(out, "file", o->path);
    sstable_reader *r;
    lsmkv_error err;
    int rc = sstable_reader_open(o->path, &r, &err);
    if (rc != LSMKV_OK) {
        /* Damage in the footer or a metadata block leaves nothing to walk. */
        dump_out_str(out, "error", err.message);
        dump_out_str(out, "result", rc == LSMKV_CORRUPTION ? "damaged" : "unreadable");
        dump_out_free(out);
        return rc == LSMKV_CORRUPTION ? DUMP_EXIT_DAMAGED : DUMP_EXIT_USAGE;
    }
    dump_table t;
    dump_table_init(&t);
    dump_table_scan(r, NULL, NULL, &t);
    dump_out_u64(out, "file_size", sstable_reader_properties(r)->file_size);
    write_footer(out, r);
    write_properties(out, r);
    write_bloom(out, r, &t);
    write_index(out, &t, o->blocks);
    if (o->entries) {
        write_entries(out, r, o->limit);
    }
    write_check(out, &t);
    bool clean = t.issues.errors == 0;
    dump_out_str(out, "result", clean ? "clean" : "damaged");
    dump_out_free(out);
    dump_table_fini(&t);
    sstable_reader_free(r);
    return clean ? DUMP_EXIT_CLEAN : DUMP_EXIT_DAMAGED;
}
