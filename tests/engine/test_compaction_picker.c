/* ctest-labels: concurrency */
/* (compaction_run_plan merges the two halves of a big plan on two threads) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

/*
 * The compaction picker over versions of real (small) tables: level targets
 * and file sizes, scores and pending bytes, level-0 picks (the oldest table
 * and its transitive overlaps, plus level 1), round-robin picks of deeper
 * levels, trivial moves, grandparents, full-compaction plans; and
 * compaction_run_plan on picked plans (tombstones dropped only where nothing
 * lies below, outputs cut by size and by grandparent overlap).
 *
 * Tables are real files (a min and a max entry, or given entries), but their
 * recorded size may be overridden: the picker only looks at the metadata, so
 * a level can weigh megabytes without writing them.
 */

#include "compaction.h"
#include "compaction_picker.h"
#include "file.h"
#include "filename.h"
#include "internal_key.h"
#include "sstable_builder.h"
#include "sstable_reader.h"
#include "table_info.h"
#include "test_support.h"
#include "version.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIB 1024u
#define MIB (1024u * 1024u)

/* ---- fixture ------------------------------------------------------------------------ */

#define MAX_TABLES 64

typedef struct fixture {
    char *dir;
    table_cache *cache;
    uint64_t next_id;
    table *tables[MAX_TABLES];
    size_t count;
    buffer pointers[LSMKV_MAX_LEVELS]; /* compact pointers */
} fixture;

static int
setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    f->dir = test_make_temp_dir("picker");
    f->cache = table_cache_new(f->dir, NULL, 1000, false);
    f->next_id = 1;
    for (int l = 0; l < LSMKV_MAX_LEVELS; l++) {
        buffer_init(&f->pointers[l]);
    }
    *state = f;
    return 0;
}

static void
drop_tables(fixture *f)
{
    for (size_t i = 0; i < f->count; i++) {
        table_unref(f->tables[i]);
    }
    f->count = 0;
}

static int
teardown(void **state)
{
    fixture *f = *state;
    drop_tables(f);
    for (int l = 0; l < LSMKV_MAX_LEVELS; l++) {
        buffer_fini(&f->pointers[l]);
    }
    table_cache_free(f->cache);
    test_remove_dir(f->dir);
    free(f);
    return 0;
}

/* One entry: key (key_len 0 means strlen), sequence, value (NULL: a tombstone). */
typedef struct entry {
    const char *key;
    size_t key_len;
    uint64_t seq;
    const char *value;
} entry;

#define TOMBSTONE NULL

static slice
entry_key(const entry *e)
{
    return slice_make(e->key, e->key_len ? e->key_len : strlen(e->key));
}

/*
 * Writes a table of entries (internal-key order) at level, records it with
 * size_bytes (0: the real file size) and keeps it in the fixture.
 */
static table *
write_table(fixture *f, uint32_t level, const entry *entries, size_t n, uint64_t size_bytes)
{
    uint64_t id = f->next_id++;
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, id);
    sstable_builder_options bo = {.block_bytes = 4096, .bloom_bits_per_key = 10};
    sstable_builder *b = NULL;
    assert_int_equal(sstable_builder_open(path, &bo, &b, NULL), LSMKV_OK);
    buffer key;
    buffer_init(&key);
    for (size_t i = 0; i < n; i++) {
        buffer_clear(&key);
        value_type type = entries[i].value == TOMBSTONE ? VALUE_TYPE_DELETION : VALUE_TYPE_VALUE;
        internal_key_append(&key, entry_key(&entries[i]), entries[i].seq, type);
        const char *v = entries[i].value ? entries[i].value : "";
        assert_int_equal(sstable_builder_add(b, buffer_slice(&key), slice_make(v, strlen(v)), NULL),
                         LSMKV_OK);
    }
    buffer_fini(&key);
    sstable_properties props;
    sstable_properties_init(&props);
    assert_int_equal(sstable_builder_finish(b, &props, NULL), LSMKV_OK);
    lsmkv_table_info info = {
        .id = id,
        .level = level,
        .size_bytes = size_bytes ? size_bytes : props.file_size,
        .entries = props.entries,
        .tombstones = props.tombstones,
        .max_sequence = props.max_sequence,
    };
    table_info_set_keys(&info, buffer_slice(&props.min_key), buffer_slice(&props.max_key));
    sstable_properties_fini(&props);
    table *t = NULL;
    lsmkv_error err = {0};
    if (table_open(f->cache, &info, &t, &err) != LSMKV_OK) {
        fail_msg("table_open: %s", err.message);
    }
    table_info_fini(&info);
    assert_true(f->count < MAX_TABLES);
    f->tables[f->count++] = t;
    return t;
}

#define WRITE(f, level, size, ...)                                                                 \
    write_table((f), (level), (const entry[]){__VA_ARGS__},                                        \
                sizeof((const entry[]){__VA_ARGS__}) / sizeof(entry), (size))

/* A table covering [min, max] (both written at seq), recorded as size_bytes. */
static table *
range_table(fixture *f, uint32_t level, slice min, slice max, uint64_t seq, uint64_t size_bytes)
{
    entry e[2] = {{(const char *)min.data, min.len, seq, "v"},
                  {(const char *)max.data, max.len, seq, "v"}};
    return write_table(f, level, e, slice_equal(min, max) ? 1 : 2, size_bytes);
}

static table *
range(fixture *f, uint32_t level, const char *min, const char *max, uint64_t seq,
      uint64_t size_bytes)
{
    return range_table(f, level, slice_make(min, strlen(min)), slice_make(max, strlen(max)), seq,
                       size_bytes);
}

static version *
fixture_version(fixture *f)
{
    return version_new(f->tables, f->count);
}

/* Options most tests use: file sizes come out at max_file_bytes (64 KiB). */
static const compaction_picker_options default_options = {
    .level0_trigger = 4,
    .level1_target_bytes = 1 * MIB,
    .size_ratio = 10,
    .max_file_bytes = 64 * KIB,
};

static bool
plan_has(const compaction_plan *plan, const table *t)
{
    for (size_t i = 0; i < plan->input_count; i++) {
        if (plan->inputs[i] == t) {
            return true;
        }
    }
    return false;
}

static bool
grandparents_have(const compaction_plan *plan, const table *t)
{
    for (size_t i = 0; i < plan->grandparent_count; i++) {
        if (plan->grandparents[i] == t) {
            return true;
        }
    }
    return false;
}

static bool
overlaps(const table *a, const table *b)
{
    const lsmkv_table_info *x = table_info(a), *y = table_info(b);
    return slice_compare(table_info_max_key(x), table_info_min_key(y)) >= 0 &&
           slice_compare(table_info_min_key(x), table_info_max_key(y)) <= 0;
}

/* ---- targets and file sizes ------------------------------------------------------------ */

static void
test_level_targets_grow_by_ratio(void **state)
{
    (void)state;
    compaction_picker_options o = default_options;
    assert_int_equal(compaction_picker_level_target(&o, 0), 0);
    assert_int_equal(compaction_picker_level_target(&o, 1), 1 * MIB);
    assert_int_equal(compaction_picker_level_target(&o, 2), 10 * MIB);
    assert_int_equal(compaction_picker_level_target(&o, 3), 100 * MIB);
    assert_int_equal(compaction_picker_level_target(&o, 4), 1000 * (uint64_t)MIB);
    assert_int_equal(compaction_picker_level_target(&o, 5), 10000 * (uint64_t)MIB);
    assert_int_equal(compaction_picker_level_target(&o, LSMKV_MAX_LEVELS - 1), 0); /* last */
    o.size_ratio = 3;
    o.level1_target_bytes = 128 * KIB;
    assert_int_equal(compaction_picker_level_target(&o, 1), 128 * KIB);
    assert_int_equal(compaction_picker_level_target(&o, 2), 384 * KIB);
    assert_int_equal(compaction_picker_level_target(&o, 5), 81 * 128 * KIB);
}

/* The largest settings lsmkv_open accepts must not wrap targets around. */
static void
test_level_target_saturates(void **state)
{
    (void)state;
    compaction_picker_options o = default_options;
    o.level1_target_bytes = UINT64_C(1) << 40;
    o.size_ratio = 1000;
    uint64_t previous = 0;
    for (int level = 1; level < LSMKV_MAX_LEVELS - 1; level++) {
        uint64_t target = compaction_picker_level_target(&o, level);
        if (target < previous) {
            fail_msg("level %d's target %llu is below level %d's %llu", level,
                     (unsigned long long)target, level - 1, (unsigned long long)previous);
        }
        previous = target;
    }
    assert_int_equal(compaction_picker_level_target(&o, 2), (UINT64_C(1) << 40) * 1000);
    assert_int_equal(compaction_picker_level_target(&o, 5), UINT64_MAX);
}

static void
test_file_bytes_same_at_every_level(void **state)
{
    (void)state;
    compaction_picker_options o = {
        .level0_trigger = 4,
        .level1_target_bytes = 16 * MIB,
        .size_ratio = 10,
        .max_file_bytes = 64 * MIB,
    };
    /* level1_target / 8 at every level, level 0 and the last included: a
     * compaction from a level above never rewrites tables larger than its own. */
    for (int level = 0; level < LSMKV_MAX_LEVELS; level++) {
        assert_int_equal(compaction_picker_file_bytes(&o, level), 2 * MIB);
    }
    o.level1_target_bytes = 256 * MIB;
    assert_int_equal(compaction_picker_file_bytes(&o, 1), 32 * MIB);
    assert_int_equal(compaction_picker_file_bytes(&o, 4), 32 * MIB);
    /* Capped by max_file_bytes. */
    o.level1_target_bytes = 1024 * MIB;
    assert_int_equal(compaction_picker_file_bytes(&o, 3), 64 * MIB);
    /* Small targets never go below 2 MiB... */
    o.level1_target_bytes = 1 * MIB;
    assert_int_equal(compaction_picker_file_bytes(&o, 1), 2 * MIB);
    /* ...unless the largest file is smaller still. */
    o.max_file_bytes = 64 * KIB;
    for (int level = 0; level < LSMKV_MAX_LEVELS; level++) {
        assert_int_equal(compaction_picker_file_bytes(&o, level), 64 * KIB);
    }
}

/* ---- scores and pending bytes ---------------------------------------------------------- */

static void
test_empty_version_needs_nothing(void **state)
{
    fixture *f = *state;
    version *v = fixture_version(f);
    int level = -1;
    assert_true(compaction_picker_score(v, &default_options, &level) < 1.0);
    assert_int_equal(compaction_picker_pending_bytes(v, &default_options), 0);
    compaction_plan plan;
    assert_false(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_false(compaction_picker_plan_full(v, &default_options, &plan));
    version_unref(v);
}

static void
test_level0_due_at_trigger(void **state)
{
    fixture *f = *state;
    for (uint64_t seq = 1; seq <= 3; seq++) {
        range(f, 0, "a", "z", seq, 10 * KIB);
    }
    version *v = fixture_version(f);
    int level = -1;
    assert_true(compaction_picker_score(v, &default_options, &level) < 1.0);
    assert_int_equal(level, 0);
    assert_int_equal(compaction_picker_pending_bytes(v, &default_options), 0);
    compaction_plan plan;
    assert_false(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    version_unref(v);

    range(f, 0, "a", "z", 4, 10 * KIB);
    v = fixture_version(f);
    double score = compaction_picker_score(v, &default_options, &level);
    assert_true(score >= 1.0 && score < 1.0 + 1e-9);
    assert_int_equal(level, 0);
    /* Once due, level 0 counts whole. */
    assert_int_equal(compaction_picker_pending_bytes(v, &default_options), 40 * KIB);
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 0);
    assert_int_equal(plan.output_level, 1);
    assert_int_equal(plan.input_count, 4); /* they all overlap */
    assert_int_equal(plan.level_inputs, 4);
    assert_false(plan.trivial_move);
    assert_false(plan.full);
    compaction_plan_fini(&plan);
    version_unref(v);
}

static void
test_neediest_level_wins(void **state)
{
    fixture *f = *state;
    range(f, 0, "a", "b", 1, 1 * KIB);
    range(f, 0, "c", "d", 2, 1 * KIB); /* 2 of 4: 0.5 */
    range(f, 1, "a", "m", 3, 2 * MIB);
    range(f, 1, "n", "z", 3, 1 * MIB);              /* 3 MiB of 1: 3.0 */
    table *l2 = range(f, 2, "a", "z", 3, 20 * MIB); /* 20 MiB of 10: 2.0 */
    version *v = fixture_version(f);
    int level = -1;
    double score = compaction_picker_score(v, &default_options, &level);
    assert_int_equal(level, 1);
    assert_true(score > 2.99 && score < 3.01);
    assert_int_equal(compaction_picker_pending_bytes(v, &default_options), 2 * MIB + 10 * MIB);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 1);
    assert_int_equal(plan.output_level, 2);
    assert_int_equal(plan.level_inputs, 1);
    assert_int_equal(plan.input_count, 2);
    assert_ptr_equal(plan.inputs[1], l2);
    compaction_plan_fini(&plan);
    version_unref(v);

    range(f, 2, "zz", "zz", 3, 40 * MIB); /* level 2 now 6.0 */
    v = fixture_version(f);
    score = compaction_picker_score(v, &default_options, &level);
    assert_int_equal(level, 2);
    assert_true(score > 5.99 && score < 6.01);
    version_unref(v);
}

static void
test_last_level_has_no_target(void **state)
{
    fixture *f = *state;
    range(f, LSMKV_MAX_LEVELS - 1, "a", "z", 1, UINT64_C(1) << 50);
    version *v = fixture_version(f);
    int level = -1;
    assert_true(compaction_picker_score(v, &default_options, &level) < 1.0);
    assert_int_equal(compaction_picker_pending_bytes(v, &default_options), 0);
    compaction_plan plan;
    assert_false(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    version_unref(v);
}

static void
test_pending_bytes_sum_excess_per_level(void **state)
{
    fixture *f = *state;
    range(f, 0, "a", "b", 1, 5 * KIB); /* below the trigger: not counted */
    range(f, 1, "a", "b", 1, 1 * MIB); /* exactly the target: nothing over */
    range(f, 2, "a", "b", 1, 10 * MIB + 7);
    range(f, 3, "a", "b", 1, 99 * MIB);
    range(f, 4, "a", "b", 1, 1001 * (uint64_t)MIB);
    version *v = fixture_version(f);
    assert_int_equal(compaction_picker_pending_bytes(v, &default_options), 7 + 1 * MIB);
    version_unref(v);
}

/* ---- level-0 picks --------------------------------------------------------------------- */

/* Upper levels are held to their share of the deepest level, within a floor. */
static void
test_upper_levels_held_to_share_of_bottom(void **state)
{
    fixture *f = *state;
    /* default_options: level 1 = 1 MiB, ratio 10. Deepest level 3 holds 5 MiB. */
    range(f, 3, "a", "z", 1, 5 * MIB);
    version *v = fixture_version(f);
    assert_int_equal(compaction_picker_current_target(v, &default_options, 3), 100 * MIB);
    assert_int_equal(compaction_picker_current_target(v, &default_options, 2), 5 * MIB / 10);
    /* 5 MiB / 100 is under the floor (1 MiB / 10). */
    assert_int_equal(compaction_picker_current_target(v, &default_options, 1), 1 * MIB / 10);
    /* Level 2 at 3 MiB is over its share though under its own target (10 MiB). */
    version_unref(v);
    range(f, 2, "a", "z", 1, 3 * MIB);
    v = fixture_version(f);
    int level;
    assert_true(compaction_picker_score(v, &default_options, &level) >= 1.0);
    assert_int_equal(level, 2);
    version_unref(v);
}

static void
test_level0_pick_takes_oldest_and_transitive_overlaps(void **state)
{
    fixture *f = *state;
    table *t1 = range(f, 0, "c", "e", 10, 1 * KIB); /* oldest */
    table *t2 = range(f, 0, "a", "b", 20, 1 * KIB); /* overlaps nothing picked */
    table *t3 = range(f, 0, "e", "g", 30, 1 * KIB); /* overlaps t1 at e */
    table *t4 = range(f, 0, "g", "h", 40, 1 * KIB); /* overlaps t3 only */
    table *t5 = range(f, 0, "x", "z", 50, 1 * KIB); /* newest, apart */
    table *u1 = range(f, 1, "a", "b", 5, 1 * KIB);
    table *u2 = range(f, 1, "d", "f", 5, 1 * KIB);
    table *u3 = range(f, 1, "h", "k", 5, 1 * KIB);
    table *u4 = range(f, 1, "m", "n", 5, 1 * KIB);
    table *g1 = range(f, 2, "b", "c", 1, 1 * KIB); /* under [c, k] at c */
    table *g2 = range(f, 2, "j", "l", 1, 1 * KIB); /* under u3's reach past h only */
    table *g3 = range(f, 2, "p", "q", 1, 1 * KIB);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 0);
    assert_int_equal(plan.output_level, 1);
    assert_int_equal(plan.level_inputs, 3);
    assert_ptr_equal(plan.inputs[0], t1);
    assert_true(plan_has(&plan, t3) && plan_has(&plan, t4));
    assert_false(plan_has(&plan, t2) || plan_has(&plan, t5));
    for (size_t i = 0; i < plan.level_inputs; i++) {
        assert_int_equal(table_info(plan.inputs[i])->level, 0);
    }
    /* Level 1 under [c, h]: u2 and u3; the rest of the inputs come from there. */
    assert_int_equal(plan.input_count, 5);
    assert_true(plan_has(&plan, u2) && plan_has(&plan, u3));
    assert_false(plan_has(&plan, u1) || plan_has(&plan, u4));
    for (size_t i = plan.level_inputs; i < plan.input_count; i++) {
        assert_int_equal(table_info(plan.inputs[i])->level, 1);
    }
    /* Grandparents: level 2 under every input, [c, k] (u3 reaches past h). */
    assert_int_equal(plan.grandparent_count, 2);
    assert_true(grandparents_have(&plan, g1) && grandparents_have(&plan, g2));
    assert_false(grandparents_have(&plan, g3));
    assert_false(plan.trivial_move);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* Random level-0 and level-1 layouts: the pick is exactly the connected component. */
static void
test_level0_pick_never_leaves_overlapping_table(void **state)
{
    fixture *f = *state;
    test_rng rng;
    test_rng_init(&rng, test_seed());
    for (int round = 0; round < 40; round++) {
        drop_tables(f);
        size_t n0 = 2 + test_rng_below(&rng, 7);
        table *l0[9];
        for (size_t i = 0; i < n0; i++) {
            char min[3] = {(char)('a' + test_rng_below(&rng, 20)), 0, 0};
            char max[3] = {(char)(min[0] + test_rng_below(&rng, 4)), '5', 0};
            /* Sequences in random order: age is max_sequence, not creation order. */
            l0[i] = range(f, 0, min, max, 100 + test_rng_below(&rng, 1000) * 16 + i, 1 * KIB);
        }
        for (char c = 'a'; c <= 'z'; c += 3) { /* level 1: [a,b5] [d,e5] ... */
            char min[2] = {c, 0}, max[3] = {(char)(c + 1), '5', 0};
            range(f, 1, min, max, 1, 1 * KIB);
        }
        version *v = fixture_version(f);
        compaction_picker_options o = default_options;
        o.level0_trigger = (int)n0;
        compaction_plan plan;
        assert_true(compaction_picker_pick(v, &o, f->pointers, &plan));
        assert_int_equal(plan.level, 0);
        /* The expected set: the oldest table and, transitively, its overlaps. */
        bool in[9] = {false};
        size_t oldest = 0;
        for (size_t i = 1; i < n0; i++) {
            if (table_info(l0[i])->max_sequence < table_info(l0[oldest])->max_sequence) {
                oldest = i;
            }
        }
        in[oldest] = true;
        size_t expected = 1;
        for (bool grew = true; grew;) {
            grew = false;
            for (size_t i = 0; i < n0; i++) {
                for (size_t j = 0; j < n0 && !in[i]; j++) {
                    if (in[j] && overlaps(l0[i], l0[j])) {
                        in[i] = grew = true;
                        expected++;
                    }
                }
            }
        }
        assert_int_equal(plan.level_inputs, expected);
        assert_ptr_equal(plan.inputs[0], l0[oldest]);
        for (size_t i = 0; i < n0; i++) {
            if (in[i] != plan_has(&plan, l0[i])) {
                fail_msg("round %d: level-0 table %zu: expected %s the pick", round, i,
                         in[i] ? "in" : "out of");
            }
        }
        /* Exactly the level-1 tables under the level-0 inputs' range. */
        slice min = table_info_min_key(table_info(plan.inputs[0]));
        slice max = table_info_max_key(table_info(plan.inputs[0]));
        for (size_t i = 1; i < plan.level_inputs; i++) {
            const lsmkv_table_info *info = table_info(plan.inputs[i]);
            if (slice_compare(table_info_min_key(info), min) < 0) {
                min = table_info_min_key(info);
            }
            if (slice_compare(table_info_max_key(info), max) > 0) {
                max = table_info_max_key(info);
            }
        }
        size_t under = 0;
        for (size_t i = 0; i < version_level_count(v, 1); i++) {
            const lsmkv_table_info *info = table_info(version_level_table(v, 1, i));
            bool hit = slice_compare(table_info_max_key(info), min) >= 0 &&
                       slice_compare(table_info_min_key(info), max) <= 0;
            under += hit;
            assert_int_equal(hit, plan_has(&plan, version_level_table(v, 1, i)));
        }
        assert_int_equal(plan.input_count, plan.level_inputs + under);
        assert_int_equal(plan.trivial_move, plan.input_count == 1);
        compaction_plan_fini(&plan);
        version_unref(v);
    }
}

static void
test_level0_single_table_moves(void **state)
{
    fixture *f = *state;
    table *old = range(f, 0, "a", "c", 1, 1 * KIB);
    range(f, 0, "d", "f", 2, 1 * KIB);
    range(f, 0, "g", "i", 3, 1 * KIB);
    range(f, 0, "j", "l", 4, 1 * KIB);
    range(f, 1, "m", "z", 0, 1 * KIB);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.input_count, 1);
    assert_ptr_equal(plan.inputs[0], old);
    assert_true(plan.trivial_move);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* ---- deeper levels: round robin, trivial moves, grandparents --------------------------- */

static void
test_round_robin_walks_level_and_wraps(void **state)
{
    fixture *f = *state;
    table *t[4] = {
        range(f, 1, "c", "d", 1, 1 * MIB),
        range(f, 1, "a", "b", 1, 1 * MIB), /* created out of key order */
        range(f, 1, "g", "h", 1, 1 * MIB),
        range(f, 1, "e", "f", 1, 1 * MIB),
    };
    table *expected[] = {t[1], t[0], t[3], t[2], t[1], t[0]};
    const char *pointer[] = {"b", "d", "f", "h", "b", "d"};
    version *v = fixture_version(f);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++) {
        compaction_plan plan;
        assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
        assert_int_equal(plan.level, 1);
        assert_int_equal(plan.level_inputs, 1);
        if (plan.inputs[0] != expected[i]) {
            fail_msg("pick %zu took table %llu, expected %llu", i,
                     (unsigned long long)table_info(plan.inputs[0])->id,
                     (unsigned long long)table_info(expected[i])->id);
        }
        assert_true(
            slice_equal(buffer_slice(&f->pointers[1]), slice_make(pointer[i], strlen(pointer[i]))));
        assert_true(plan.trivial_move); /* nothing below */
        compaction_plan_fini(&plan);
    }
    version_unref(v);
}

/* A pointer past every table (its table was compacted away) wraps to the first. */
static void
test_round_robin_pointer_past_the_end_wraps(void **state)
{
    fixture *f = *state;
    table *first = range(f, 2, "b", "c", 1, 8 * MIB);
    range(f, 2, "d", "e", 1, 8 * MIB);
    buffer_set(&f->pointers[2], "zz", 2);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 2);
    assert_ptr_equal(plan.inputs[0], first);
    compaction_plan_fini(&plan);
    version_unref(v);
}

static void
test_no_trivial_move_with_overlap_below(void **state)
{
    fixture *f = *state;
    table *top = range(f, 1, "c", "f", 2, 2 * MIB);
    range(f, 2, "a", "b", 1, 1 * KIB);
    table *under = range(f, 2, "f", "g", 1, 1 * KIB); /* shares key f */
    range(f, 2, "h", "i", 1, 1 * KIB);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 1);
    assert_int_equal(plan.input_count, 2);
    assert_ptr_equal(plan.inputs[0], top);
    assert_ptr_equal(plan.inputs[1], under);
    assert_false(plan.trivial_move);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* A move may overlap at most 10 output files' worth of the level after next. */
static void
test_trivial_move_limited_by_grandparent_overlap(void **state)
{
    fixture *f = *state;
    uint64_t limit = 10 * compaction_picker_file_bytes(&default_options, 2);
    range(f, 1, "c", "m", 2, 2 * MIB);
    table *g1 = range(f, 3, "a", "d", 1, limit / 2);
    table *g2 = range(f, 3, "k", "p", 1, limit - limit / 2); /* exactly the limit */
    table *g3 = range(f, 3, "q", "r", 1, 100 * MIB);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.input_count, 1);
    assert_int_equal(plan.grandparent_count, 2);
    assert_true(grandparents_have(&plan, g1) && grandparents_have(&plan, g2));
    assert_false(grandparents_have(&plan, g3));
    assert_true(plan.trivial_move);
    compaction_plan_fini(&plan);
    version_unref(v);

    /* One byte more under the table: it must be rewritten (and cut) instead. */
    range(f, 3, "e", "f", 1, 1);
    buffer_clear(&f->pointers[1]);
    v = fixture_version(f);
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.input_count, 1);
    assert_int_equal(plan.grandparent_count, 3);
    assert_false(plan.trivial_move);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* Grandparents lie under every input, including output-level tables reaching out. */
static void
test_grandparents_cover_all_inputs(void **state)
{
    fixture *f = *state;
    range(f, 2, "f", "h", 2, 20 * MIB);
    table *wide = range(f, 3, "a", "g", 1, 1 * KIB);
    table *g_left = range(f, 4, "a", "b", 0, 1 * KIB); /* under `wide` only */
    table *g_mid = range(f, 4, "g", "g", 0, 1 * KIB);
    table *g_far = range(f, 4, "i", "j", 0, 1 * KIB);
    table *g_other = range(f, 5, "a", "z", 0, 1 * KIB); /* two levels down: not one */
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 2);
    assert_int_equal(plan.output_level, 3);
    assert_int_equal(plan.input_count, 2);
    assert_ptr_equal(plan.inputs[1], wide);
    assert_int_equal(plan.grandparent_count, 2);
    assert_true(grandparents_have(&plan, g_left) && grandparents_have(&plan, g_mid));
    assert_false(grandparents_have(&plan, g_far) || grandparents_have(&plan, g_other));
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* Binary keys: NUL bytes order before everything, and a prefix before its extensions. */
static void
test_binary_key_ranges(void **state)
{
    fixture *f = *state;
    table *top = range_table(f, 1, slice_make("\0\0", 2), slice_make("\0a", 2), 2, 2 * MIB);
    table *after = range_table(f, 2, slice_make("\0a\0", 3), slice_make("\x01", 1), 1, 1 * KIB);
    range_table(f, 2, slice_make("\x01\0", 2), slice_make("\xff", 1), 1, 1 * KIB);
    table *before = range_table(f, 2, slice_make("\0", 1), slice_make("\0", 1), 1, 1 * KIB);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_ptr_equal(plan.inputs[0], top);
    /* "\0" < "\0\0" and "\0a" < "\0a\0": neither neighbour overlaps. */
    assert_int_equal(plan.input_count, 1);
    assert_false(plan_has(&plan, after) || plan_has(&plan, before));
    assert_true(plan.trivial_move);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* The version queries the picker and compaction_run_plan build on. */
static void
test_version_overlapping_and_key_exists_below(void **state)
{
    fixture *f = *state;
    table *a = range(f, 2, "b", "d", 1, 1 * KIB);
    table *b = range(f, 2, "f", "h", 1, 1 * KIB);
    range(f, 4, "m", "p", 1, 1 * KIB);
    version *v = fixture_version(f);
    /* Appends to what the array holds; bounds are inclusive. */
    table **out = xmalloc(sizeof(*out));
    out[0] = NULL;
    size_t count = 1;
    version_overlapping(v, 2, slice_make("d", 1), slice_make("f", 1), &out, &count);
    assert_int_equal(count, 3);
    assert_null(out[0]);
    assert_ptr_equal(out[1], a);
    assert_ptr_equal(out[2], b);
    count = 0;
    version_overlapping(v, 2, slice_make("da", 2), slice_make("e", 1), &out, &count);
    assert_int_equal(count, 0); /* the gap between the tables */
    version_overlapping(v, 3, slice_make("a", 1), slice_make("z", 1), &out, &count);
    assert_int_equal(count, 0); /* an empty level */
    free(out);
    /* By key range, deeper levels only: "n" is not written but may be. */
    assert_true(version_key_exists_below(v, 1, slice_make("c", 1)));
    assert_false(version_key_exists_below(v, 2, slice_make("c", 1)));
    assert_false(version_key_exists_below(v, 1, slice_make("e", 1)));
    assert_true(version_key_exists_below(v, 3, slice_make("n", 1)));
    assert_false(version_key_exists_below(v, 4, slice_make("n", 1)));
    assert_false(version_key_exists_below(v, 0, slice_make("q", 1)));
    version_unref(v);
}

/* ---- full compaction ------------------------------------------------------------------- */

static void
expect_full_level(fixture *f, int level)
{
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_plan_full(v, &default_options, &plan));
    assert_int_equal(plan.level, level);
    assert_int_equal(plan.output_level, level);
    assert_true(plan.full);
    assert_false(plan.trivial_move);
    assert_int_equal(plan.input_count, f->count);
    assert_int_equal(plan.level_inputs, f->count);
    for (size_t i = 0; i < f->count; i++) {
        assert_true(plan_has(&plan, f->tables[i]));
    }
    compaction_plan_fini(&plan);
    version_unref(v);
}

static void
test_plan_full_picks_first_level_holding_everything(void **state)
{
    fixture *f = *state;
    range(f, 0, "a", "z", 9, 512 * KIB);
    range(f, 3, "a", "z", 1, 512 * KIB);
    expect_full_level(f, 1); /* exactly level 1's target */
    range(f, 2, "a", "z", 2, 1);
    expect_full_level(f, 2);
    range(f, 2, "zz", "zz", 2, 10 * MIB);
    expect_full_level(f, 3);
    range(f, 0, "a", "b", 10, UINT64_C(1) << 45);
    expect_full_level(f, LSMKV_MAX_LEVELS - 1); /* no target holds it: the last level */
}

/* ---- compaction_run_plan on picked plans ---------------------------------------------- */

static uint64_t
run_new_file_number(void *ctx)
{
    fixture *f = ctx;
    /* Called from both threads of a plan run in two halves. */
    return __atomic_fetch_add(&f->next_id, 1, __ATOMIC_RELAXED);
}

/* split_min_bytes 0: never split the plan in two halves. */
static void
run_plan_split(fixture *f, const compaction_plan *plan, const compaction_picker_options *o,
               uint64_t split_min_bytes, lsmkv_table_list *outputs, compaction_stats *stats)
{
    compaction_run_options ro = {
        .dir = f->dir,
        .builder = {.block_bytes = 4096, .bloom_bits_per_key = 10},
        .picker = o,
        .new_file_number = run_new_file_number,
        .ctx = f,
        .split_min_bytes = split_min_bytes,
    };
    lsmkv_error err = {0};
    if (compaction_run_plan(plan, &ro, outputs, stats, &err) != LSMKV_OK) {
        fail_msg("compaction_run_plan: %s", err.message);
    }
}

static void
run_plan(fixture *f, const compaction_plan *plan, const compaction_picker_options *o,
         lsmkv_table_list *outputs, compaction_stats *stats)
{
    run_plan_split(f, plan, o, 0, outputs, stats);
}

/* "key@seq=value " or "key@seq:del " for every entry of the table. */
static void
dump_table(fixture *f, const lsmkv_table_info *info, buffer *out)
{
    char path[FILENAME_PATH_MAX];
    filename_table(path, f->dir, info->id);
    sstable_reader *r = NULL;
    assert_int_equal(sstable_reader_open(path, &r, NULL), LSMKV_OK);
    iterator *it = sstable_reader_iterator_new(r);
    for (iterator_seek_to_first(it); iterator_valid(it); iterator_next(it)) {
        parsed_internal_key k;
        assert_true(internal_key_parse(iterator_key(it), &k));
        char text[128];
        slice value = iterator_value(it);
        int n = k.type == VALUE_TYPE_DELETION
                    ? snprintf(text, sizeof(text), "%.*s@%llu:del ", (int)k.user_key.len,
                               (const char *)k.user_key.data, (unsigned long long)k.sequence)
                    : snprintf(text, sizeof(text), "%.*s@%llu=%.*s ", (int)k.user_key.len,
                               (const char *)k.user_key.data, (unsigned long long)k.sequence,
                               (int)value.len, (const char *)value.data);
        buffer_append(out, text, (size_t)n);
    }
    assert_int_equal(iterator_status(it, NULL), LSMKV_OK);
    iterator_free(it);
    sstable_reader_free(r);
}

/* Every output's entries in order, "| " between files when separate. */
static void
dump_outputs(fixture *f, const lsmkv_table_list *outputs, bool separate, buffer *out)
{
    for (size_t i = 0; i < outputs->count; i++) {
        if (i > 0 && separate) {
            buffer_append(out, "| ", 2);
        }
        dump_table(f, &outputs->tables[i], out);
    }
    buffer_append(out, "", 1);
}

static void
assert_outputs(fixture *f, const lsmkv_table_list *outputs, const char *expected)
{
    buffer out;
    buffer_init(&out);
    dump_outputs(f, outputs, true, &out);
    if (strcmp((const char *)out.data, expected) != 0) {
        fail_msg("outputs:\n  got      \"%s\"\n  expected \"%s\"", (const char *)out.data,
                 expected);
    }
    buffer_fini(&out);
}

static void
test_run_plan_drops_tombstones_only_without_data_below(void **state)
{
    fixture *f = *state;
    WRITE(f, 1, 2 * MIB, {"a", 0, 10, TOMBSTONE}, {"b", 0, 11, "b11"}, {"c", 0, 12, TOMBSTONE},
          {"d", 0, 13, TOMBSTONE});
    WRITE(f, 2, 0, {"a", 0, 1, "a1"}, {"c", 0, 2, "c2"});
    WRITE(f, 3, 0, {"d", 0, 3, "d3"}); /* older data under d: its tombstone stays */
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 1);
    assert_int_equal(plan.input_count, 2);
    assert_int_equal(plan.grandparent_count, 1);
    lsmkv_table_list outputs = {0};
    compaction_stats stats;
    run_plan(f, &plan, &default_options, &outputs, &stats);
    assert_outputs(f, &outputs, "b@11=b11 d@13:del ");
    assert_int_equal(stats.entries_in, 6);
    assert_int_equal(stats.entries_out, 2);
    assert_int_equal(outputs.tables[0].level, 2);
    assert_int_equal(outputs.tables[0].tombstones, 1);
    lsmkv_table_list_fini(&outputs);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* Into the deepest level (nothing below the range): values get sequence 0. */
static void
test_run_plan_zeroes_sequences_at_the_bottom(void **state)
{
    fixture *f = *state;
    WRITE(f, 1, 2 * MIB, {"a", 0, 10, "a10"}, {"c", 0, 12, TOMBSTONE}, {"d", 0, 13, "d13"});
    WRITE(f, 2, 0, {"a", 0, 1, "a1"}, {"b", 0, 2, "b2"}, {"c", 0, 3, "c3"});
    WRITE(f, 3, 0, {"x", 0, 4, "x4"}); /* below, but outside the plan's keys */
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 1);
    lsmkv_table_list outputs = {0};
    compaction_stats stats;
    run_plan(f, &plan, &default_options, &outputs, &stats);
    assert_true(plan.bottom);
    assert_outputs(f, &outputs, "a@0=a10 b@0=b2 d@0=d13 ");
    assert_int_equal(outputs.tables[0].max_sequence, 0);
    lsmkv_table_list_fini(&outputs);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* Data two levels below the output (not a grandparent) still keeps sequences. */
static void
test_run_plan_keeps_sequences_above_deeper_data(void **state)
{
    fixture *f = *state;
    WRITE(f, 1, 2 * MIB, {"a", 0, 10, "a10"}, {"d", 0, 13, "d13"});
    WRITE(f, 2, 0, {"b", 0, 2, "b2"});
    WRITE(f, 4, 0, {"c", 0, 1, "c1"});
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &default_options, f->pointers, &plan));
    assert_int_equal(plan.level, 1);
    assert_int_equal(plan.grandparent_count, 0);
    assert_false(plan.bottom);
    lsmkv_table_list outputs = {0};
    compaction_stats stats;
    run_plan(f, &plan, &default_options, &outputs, &stats);
    assert_outputs(f, &outputs, "a@10=a10 b@2=b2 d@13=d13 ");
    lsmkv_table_list_fini(&outputs);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/*
 * A plan run as two halves on two threads writes exactly the entries the
 * whole plan does, in non-overlapping files in key order, cut at a boundary
 * of an input table; tombstones and shadowed versions go the same way.
 */
static void
test_run_plan_in_two_halves_writes_what_one_would(void **state)
{
    fixture *f = *state;
    WRITE(f, 0, 3 * MIB, {"b", 0, 30, "b30"}, {"e", 0, 31, TOMBSTONE}, {"k", 0, 32, "k32"},
          {"p", 0, 33, TOMBSTONE}, {"x", 0, 34, "x34"});
    WRITE(f, 1, 1 * MIB, {"a", 0, 10, "a10"}, {"b", 0, 11, "b11"}, {"c", 0, 12, TOMBSTONE});
    WRITE(f, 1, 1 * MIB, {"e", 0, 13, "e13"}, {"f", 0, 14, "f14"}, {"h", 0, 15, "h15"});
    WRITE(f, 1, 1 * MIB, {"k", 0, 16, "k16"}, {"m", 0, 17, "m17"}, {"p", 0, 18, "p18"});
    WRITE(f, 1, 1 * MIB, {"s", 0, 19, "s19"}, {"x", 0, 20, "x20"}, {"z", 0, 21, "z21"});
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_plan_full(v, &default_options, &plan));
    assert_int_equal(plan.input_count, 5);

    lsmkv_table_list whole = {0}, halves = {0};
    compaction_stats whole_stats, halves_stats;
    run_plan_split(f, &plan, &default_options, 0, &whole, &whole_stats);
    run_plan_split(f, &plan, &default_options, 1, &halves, &halves_stats);
    assert_int_equal(whole.count, 1);
    assert_int_equal(halves.count, 2);
    buffer a, b;
    buffer_init(&a);
    buffer_init(&b);
    dump_outputs(f, &whole, false, &a);
    dump_outputs(f, &halves, false, &b);
    assert_string_equal((const char *)b.data, (const char *)a.data);
    assert_string_equal((const char *)a.data,
                        "a@0=a10 b@0=b30 f@0=f14 h@0=h15 k@0=k32 m@0=m17 s@0=s19 "
                        "x@0=x34 z@0=z21 "); /* everything: the bottom, sequences 0 */
    /* The first half ends at an input table's largest key, near the middle. */
    slice first_max = table_info_max_key(&halves.tables[0]);
    slice second_min = table_info_min_key(&halves.tables[1]);
    assert_true(slice_equal(first_max, slice_make("h", 1)) ||
                slice_equal(first_max, slice_make("m", 1)));
    assert_true(slice_compare(first_max, second_min) < 0);
    assert_int_equal(halves_stats.entries_in, whole_stats.entries_in);
    assert_int_equal(halves_stats.entries_out, whole_stats.entries_out);
    assert_int_equal(halves_stats.entries_in, 17);
    buffer_fini(&a);
    buffer_fini(&b);
    lsmkv_table_list_fini(&whole);
    lsmkv_table_list_fini(&halves);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* Fails the nth fsync of a table file (counting from 1) with EIO. */
typedef struct nth_sync {
    atomic_int seen;
    int fail_at;
} nth_sync;

static int
fail_nth_table_sync(void *ctx, file_op op, const char *path)
{
    nth_sync *n = ctx;
    if (op != FILE_OP_SYNC || strstr(path, ".sst") == NULL) {
        return 0;
    }
    return atomic_fetch_add(&n->seen, 1) + 1 == n->fail_at ? EIO : 0;
}

static size_t
count_table_files(const char *dir)
{
    char **names;
    size_t count, tables = 0;
    assert_int_equal(file_list_dir(dir, &names, &count, NULL), LSMKV_OK);
    for (size_t i = 0; i < count; i++) {
        uint64_t number;
        tables += filename_parse(names[i], &number) == FILE_KIND_TABLE;
    }
    file_list_free(names, count);
    return tables;
}

/* When either half fails, the files of both are removed and the error is returned. */
static void
test_run_plan_in_two_halves_cleans_up_after_either_fails(void **state)
{
    fixture *f = *state;
    WRITE(f, 1, 2 * MIB, {"a", 0, 10, "a10"}, {"b", 0, 11, "b11"});
    WRITE(f, 1, 2 * MIB, {"m", 0, 12, "m12"}, {"n", 0, 13, "n13"});
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_plan_full(v, &default_options, &plan));
    size_t inputs = count_table_files(f->dir);
    for (int fail_at = 1; fail_at <= 2; fail_at++) {
        nth_sync n = {.fail_at = fail_at};
        atomic_init(&n.seen, 0);
        file_set_fault_hook(fail_nth_table_sync, &n);
        compaction_run_options ro = {
            .dir = f->dir,
            .builder = {.block_bytes = 4096, .bloom_bits_per_key = 10},
            .picker = &default_options,
            .new_file_number = run_new_file_number,
            .ctx = f,
            .split_min_bytes = 1,
        };
        lsmkv_table_list outputs = {0};
        lsmkv_error err = {0};
        assert_int_equal(compaction_run_plan(&plan, &ro, &outputs, NULL, &err), LSMKV_IO_ERROR);
        file_set_fault_hook(NULL, NULL);
        assert_non_null(strstr(err.message, "fsync"));
        assert_int_equal(outputs.count, 0);
        assert_int_equal(atomic_load(&n.seen), 2); /* both halves wrote a file */
        assert_int_equal(count_table_files(f->dir), inputs);
    }
    compaction_plan_fini(&plan);
    version_unref(v);
}

/*
 * Outputs are cut once they span more than 10 output files' worth of
 * grandparents: with 4 KiB files the limit is 40 KiB; each grandparent
 * weighs 30 KiB, so an output may pass one grandparent but not two.
 */
static void
test_run_plan_cuts_outputs_at_grandparent_overlap(void **state)
{
    fixture *f = *state;
    compaction_picker_options o = default_options;
    o.max_file_bytes = 4 * KIB;
    WRITE(f, 1, 2 * MIB, {"a", 0, 20, "1"}, {"b", 0, 20, "1"}, {"c", 0, 20, "1"}, {"d", 0, 20, "1"},
          {"e", 0, 20, "1"}, {"f", 0, 20, "1"}, {"g", 0, 20, "1"}, {"h", 0, 20, "1"},
          {"i", 0, 20, "1"}, {"j", 0, 20, "1"}, {"k", 0, 20, "1"}, {"l", 0, 20, "1"},
          {"m", 0, 20, "1"});
    WRITE(f, 2, 0, {"a", 0, 1, "0"});
    range(f, 3, "b", "c", 1, 30 * KIB);
    range(f, 3, "e", "f", 1, 30 * KIB);
    range(f, 3, "h", "i", 1, 30 * KIB);
    range(f, 3, "k", "l", 1, 30 * KIB);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &o, f->pointers, &plan));
    assert_int_equal(plan.input_count, 2);
    assert_int_equal(plan.grandparent_count, 4);
    lsmkv_table_list outputs = {0};
    compaction_stats stats;
    run_plan(f, &plan, &o, &outputs, &stats);
    assert_outputs(f, &outputs,
                   "a@20=1 b@20=1 c@20=1 d@20=1 e@20=1 f@20=1 | g@20=1 h@20=1 i@20=1 j@20=1 "
                   "k@20=1 l@20=1 | m@20=1 ");
    for (size_t i = 0; i < outputs.count; i++) {
        assert_int_equal(outputs.tables[i].level, 2);
    }
    lsmkv_table_list_fini(&outputs);
    compaction_plan_fini(&plan);
    version_unref(v);
}

/* Outputs are cut at the output level's file size, never inside a key, sorted. */
static void
test_run_plan_cuts_outputs_by_size(void **state)
{
    fixture *f = *state;
    compaction_picker_options o = default_options;
    o.max_file_bytes = 4 * KIB;
    static char value[200];
    memset(value, 'v', sizeof(value) - 1);
    enum { KEYS = 300 };
    entry *top = calloc(KEYS * 2, sizeof(*top));
    entry *below = calloc(KEYS, sizeof(*below));
    char(*keys)[8] = calloc(KEYS, sizeof(*keys));
    size_t n = 0;
    for (int i = 0; i < KEYS; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%04d", i);
        top[n++] = (entry){keys[i], 0, 1000 + (uint64_t)i, value};
        if (i % 3 == 0) {
            top[n++] = (entry){keys[i], 0, 500 + (uint64_t)i, value}; /* shadowed */
        }
        below[i] = (entry){keys[i], 0, 1 + (uint64_t)i, "old"};
    }
    write_table(f, 1, top, n, 2 * MIB);
    write_table(f, 2, below, KEYS, 0);
    version *v = fixture_version(f);
    compaction_plan plan;
    assert_true(compaction_picker_pick(v, &o, f->pointers, &plan));
    lsmkv_table_list outputs = {0};
    compaction_stats stats;
    run_plan(f, &plan, &o, &outputs, &stats);
    assert_int_equal(stats.entries_in, n + KEYS);
    assert_int_equal(stats.entries_out, KEYS);
    assert_true(outputs.count >= 10); /* 300 * ~210 bytes in 4 KiB files */
    uint64_t entries = 0, bytes = 0;
    for (size_t i = 0; i < outputs.count; i++) {
        const lsmkv_table_info *t = &outputs.tables[i];
        entries += t->entries;
        bytes += t->size_bytes;
        assert_true(t->size_bytes < 8 * KIB); /* cut near the target */
        if (i > 0) {
            assert_true(slice_compare(table_info_max_key(&outputs.tables[i - 1]),
                                      table_info_min_key(t)) < 0);
        }
    }
    assert_int_equal(entries, KEYS);
    assert_int_equal(bytes, stats.bytes_written);
    lsmkv_table_list_fini(&outputs);
    compaction_plan_fini(&plan);
    version_unref(v);
    free(top);
    free(below);
    free(keys);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_level_targets_grow_by_ratio),
        cmocka_unit_test(test_level_target_saturates),
        cmocka_unit_test(test_file_bytes_same_at_every_level),
        cmocka_unit_test_setup_teardown(test_empty_version_needs_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level0_due_at_trigger, setup, teardown),
        cmocka_unit_test_setup_teardown(test_neediest_level_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_last_level_has_no_target, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upper_levels_held_to_share_of_bottom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_bytes_sum_excess_per_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_level0_pick_takes_oldest_and_transitive_overlaps,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_level0_pick_never_leaves_overlapping_table, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_level0_single_table_moves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_walks_level_and_wraps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_robin_pointer_past_the_end_wraps, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_no_trivial_move_with_overlap_below, setup, teardown),
        cmocka_unit_test_setup_teardown(test_trivial_move_limited_by_grandparent_overlap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_grandparents_cover_all_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_binary_key_ranges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_version_overlapping_and_key_exists_below, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_plan_full_picks_first_level_holding_everything, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_plan_drops_tombstones_only_without_data_below,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_plan_zeroes_sequences_at_the_bottom, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_plan_keeps_sequences_above_deeper_data, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_plan_in_two_halves_writes_what_one_would, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_plan_in_two_halves_cleans_up_after_either_fails,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_run_plan_cuts_outputs_at_grandparent_overlap, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_run_plan_cuts_outputs_by_size, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
