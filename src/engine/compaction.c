#include "compaction.h"

#include "file.h"
#include "filename.h"
#include "internal_key.h"
#include "status.h"
#include "table_info.h"

#include <stdlib.h>

/* The state of one compaction_write call. */
typedef struct compaction {
    const compaction_options *options;
    lsmkv_table_list *outputs;
    size_t first_output; /* outputs written by this call start here */
    sstable_builder *builder;
    uint64_t builder_number;
    buffer current_key; /* user key of the previous entry */
    bool has_current_key;
    uint64_t last_sequence_for_key; /* sequence of the previous version of current_key */
    compaction_stats stats;
} compaction;

/* The dropping rule described in compaction.h. */
static bool
compaction_should_drop(compaction *c, const parsed_internal_key *key)
{
    bool drop = false;
    if (c->last_sequence_for_key <= c->options->smallest_snapshot) {
        drop = true; /* shadowed by a newer version every reader sees */
    } else if (key->type == VALUE_TYPE_DELETION && c->options->drop_tombstones &&
               key->sequence <= c->options->smallest_snapshot) {
        drop = true; /* nothing older can exist below, and every reader sees it */
    }
    c->last_sequence_for_key = key->sequence;
    return drop;
}

static int
compaction_open_output(compaction *c, lsmkv_error *err)
{
    const compaction_options *o = c->options;
    char path[FILENAME_PATH_MAX];
    c->builder_number = o->new_file_number(o->ctx);
    filename_table(path, o->dir, c->builder_number);
    return sstable_builder_open(path, &o->builder, &c->builder, err);
}

static int
compaction_finish_output(compaction *c, lsmkv_error *err)
{
    sstable_properties props;
    sstable_properties_init(&props);
    int rc = sstable_builder_finish(c->builder, &props, err);
    c->builder = NULL;
    if (rc == LSMKV_OK) {
        lsmkv_table_info info = {
            .id = c->builder_number,
            .level = c->options->output_level,
            .size_bytes = props.file_size,
            .entries = props.entries,
            .tombstones = props.tombstones,
            .max_sequence = props.max_sequence,
        };
        table_info_set_keys(&info, buffer_slice(&props.min_key), buffer_slice(&props.max_key));
        table_list_append(c->outputs, &info);
        table_info_fini(&info);
        c->stats.bytes_written += props.file_size;
    }
    sstable_properties_fini(&props);
    return rc;
}

/* Before a new user key: cut the current output if it reached its target size. */
static int
compaction_maybe_cut(compaction *c, bool new_user_key, lsmkv_error *err)
{
    uint64_t target = c->options->target_file_bytes;
    if (c->builder == NULL || !new_user_key || target == 0 ||
        sstable_builder_estimated_size(c->builder) < target) {
        return LSMKV_OK;
    }
    return compaction_finish_output(c, err);
}

static int
compaction_add(compaction *c, slice internal_key, slice value, lsmkv_error *err)
{
    parsed_internal_key key;
    if (!internal_key_parse(internal_key, &key)) {
        return status_set(err, LSMKV_CORRUPTION, "compaction input has a malformed key");
    }
    c->stats.entries_in++;
    bool new_user_key =
        !c->has_current_key || !slice_equal(key.user_key, buffer_slice(&c->current_key));
    if (new_user_key) {
        buffer_set(&c->current_key, key.user_key.data, key.user_key.len);
        c->has_current_key = true;
        c->last_sequence_for_key = SEQUENCE_MAX + 1;
    }
    if (compaction_should_drop(c, &key)) {
        return LSMKV_OK;
    }
    int rc = compaction_maybe_cut(c, new_user_key, err);
    if (rc == LSMKV_OK && c->builder == NULL) {
        rc = compaction_open_output(c, err);
    }
    if (rc == LSMKV_OK) {
        rc = sstable_builder_add(c->builder, internal_key, value, err);
    }
    c->stats.entries_out += (rc == LSMKV_OK);
    return rc;
}

/* Removes every file this call produced (finished or not). */
static void
compaction_cleanup(compaction *c)
{
    sstable_builder_abandon(c->builder);
    c->builder = NULL;
    char path[FILENAME_PATH_MAX];
    while (c->outputs->count > c->first_output) {
        lsmkv_table_info *info = &c->outputs->tables[--c->outputs->count];
        filename_table(path, c->options->dir, info->id);
        file_remove(path, NULL);
        table_info_fini(info);
    }
}

int
compaction_write(iterator *input, const compaction_options *options, lsmkv_table_list *outputs,
                 compaction_stats *stats, lsmkv_error *err)
{
    compaction c = {.options = options, .outputs = outputs, .first_output = outputs->count};
    buffer_init(&c.current_key);
    int rc = LSMKV_OK;
    for (iterator_seek_to_first(input); rc == LSMKV_OK && iterator_valid(input);
         iterator_next(input)) {
        rc = compaction_add(&c, iterator_key(input), iterator_value(input), err);
    }
    if (rc == LSMKV_OK) {
        rc = iterator_status(input, err);
    }
    if (rc == LSMKV_OK && c.builder != NULL) {
        rc = compaction_finish_output(&c, err);
    }
    if (rc != LSMKV_OK) {
        compaction_cleanup(&c);
    }
    buffer_fini(&c.current_key);
    if (stats != NULL) {
        *stats = c.stats;
    }
    return rc;
}
