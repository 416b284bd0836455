#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Parses a NULL-terminated list of arguments (without argv[0]). */
static int
parse(config *cfg, lsmkv_error *err, const char *const *args)
{
    char *argv[32];
    int argc = 0;
    argv[argc++] = "lsmkv-server";
    for (; *args != NULL; args++) {
        argv[argc++] = (char *)*args;
    }
    argv[argc] = NULL;
    memset(err, 0, sizeof(*err));
    return config_parse(cfg, argc, argv, err);
}

#define PARSE(cfg, err, ...) parse((cfg), (err), (const char *const[]){__VA_ARGS__, NULL})

/* Asserts that the arguments are refused with a message containing `needle`. */
static void
expect_error(const char *needle, const char *const *args)
{
    config cfg;
    lsmkv_error err;
    int rc = parse(&cfg, &err, args);
    assert_int_equal(rc, LSMKV_INVALID_ARGUMENT);
    assert_int_equal(err.code, LSMKV_INVALID_ARGUMENT);
    if (strstr(err.message, needle) == NULL) {
        fail_msg("message '%s' does not contain '%s'", err.message, needle);
    }
}

#define EXPECT_ERROR(needle, ...) expect_error((needle), (const char *const[]){__VA_ARGS__, NULL})

static void
test_defaults(void **state)
{
    config cfg;
    lsmkv_error err;
    char *argv[] = {"lsmkv-server", NULL};
    assert_int_equal(config_parse(&cfg, 1, argv, &err), LSMKV_OK);
    assert_int_equal(cfg.listen_count, 1);
    assert_string_equal(cfg.listen[0], "tcp://127.0.0.1:7420");
    assert_string_equal(cfg.data_dir, "./lsmkv-data");
    assert_int_equal(cfg.store.sync, LSMKV_SYNC_ALWAYS);
    assert_int_equal(cfg.store.log_level, LSMKV_LOG_INFO);
    assert_int_equal(cfg.store.compression, LSMKV_COMPRESSION_NONE);
    lsmkv_options engine;
    lsmkv_options_init(&engine);
    assert_int_equal(cfg.store.memtable_bytes, engine.memtable_bytes);
    assert_int_equal(cfg.store.block_cache_bytes, engine.block_cache_bytes);
    assert_int_equal(cfg.store.level1_target_bytes, engine.level1_target_bytes);
    assert_int_equal(cfg.store.sstable_target_bytes, engine.sstable_target_bytes);
    /* The default message fits the largest key and value plus the envelope. */
    assert_int_equal(cfg.max_message_bytes, (64u << 10) + (16u << 20) + (64u << 10));
    assert_true(cfg.max_message_bytes > engine.max_key_bytes + engine.max_value_bytes);
    assert_int_equal(cfg.workers, 32);
    assert_int_equal(cfg.io_model, SERVER_IO_CALLBACKS);
    assert_false(cfg.help);
    assert_false(cfg.version);
}

static void
test_every_flag_with_separate_value(void **state)
{
    config cfg;
    lsmkv_error err;
    assert_int_equal(PARSE(&cfg, &err, "--listen", "ipc:///tmp/x.sock", "--data-dir", "/d",
                           "--sync", "none", "--memtable-size", "8M", "--max-message-size", "2M",
                           "--workers", "4", "--log-level", "debug", "--compression", "zstd",
                           "--block-cache-size", "0", "--io-model", "threads",
                           "--level1-target-size", "256K", "--sstable-target-size", "128K"),
                     LSMKV_OK);
    assert_int_equal(cfg.listen_count, 1);
    assert_string_equal(cfg.listen[0], "ipc:///tmp/x.sock");
    assert_string_equal(cfg.data_dir, "/d");
    assert_int_equal(cfg.store.sync, LSMKV_SYNC_NONE);
    assert_int_equal(cfg.store.memtable_bytes, 8u << 20);
    assert_int_equal(cfg.max_message_bytes, 2u << 20);
    assert_int_equal(cfg.workers, 4);
    assert_int_equal(cfg.store.log_level, LSMKV_LOG_DEBUG);
    assert_int_equal(cfg.store.compression, LSMKV_COMPRESSION_ZSTD);
    assert_int_equal(cfg.store.block_cache_bytes, 0);
    assert_int_equal(cfg.io_model, SERVER_IO_THREADS);
    assert_int_equal(cfg.store.level1_target_bytes, 256u << 10);
    assert_int_equal(cfg.store.sstable_target_bytes, 128u << 10);
}

static void
test_every_flag_with_equals_value(void **state)
{
    config cfg;
    lsmkv_error err;
    assert_int_equal(PARSE(&cfg, &err, "--listen=tcp://0.0.0.0:1", "--data-dir=a=b",
                           "--sync=always", "--memtable-size=64K", "--max-message-size=1G",
                           "--workers=1024", "--log-level=error", "--compression=lz4",
                           "--block-cache-size=1g", "--io-model=callbacks",
                           "--level1-target-size=64K", "--sstable-target-size=1024G"),
                     LSMKV_OK);
    assert_string_equal(cfg.listen[0], "tcp://0.0.0.0:1");
    assert_string_equal(cfg.data_dir, "a=b"); /* only the first '=' splits */
    assert_int_equal(cfg.store.sync, LSMKV_SYNC_ALWAYS);
    assert_int_equal(cfg.store.memtable_bytes, 64u << 10);
    assert_int_equal(cfg.max_message_bytes, 1u << 30);
    assert_int_equal(cfg.workers, 1024);
    assert_int_equal(cfg.store.log_level, LSMKV_LOG_ERROR);
    assert_int_equal(cfg.store.compression, LSMKV_COMPRESSION_LZ4);
    assert_int_equal(cfg.store.block_cache_bytes, 1u << 30);
    assert_int_equal(cfg.io_model, SERVER_IO_CALLBACKS);
    assert_int_equal(cfg.store.level1_target_bytes, 64u << 10);
    assert_int_equal(cfg.store.sstable_target_bytes, 1ull << 40);
}

static void
test_listen_is_repeatable_and_replaces_the_default(void **state)
{
    config cfg;
    lsmkv_error err;
    assert_int_equal(PARSE(&cfg, &err, "--listen", "tcp://127.0.0.1:1", "--listen",
                           "ipc:///tmp/a.sock", "--listen=tcp://[::1]:2"),
                     LSMKV_OK);
    assert_int_equal(cfg.listen_count, 3);
    assert_string_equal(cfg.listen[0], "tcp://127.0.0.1:1");
    assert_string_equal(cfg.listen[1], "ipc:///tmp/a.sock");
    assert_string_equal(cfg.listen[2], "tcp://[::1]:2");
}

static void
test_listen_errors(void **state)
{
    EXPECT_ERROR("is given twice", "--listen", "tcp://127.0.0.1:1", "--listen",
                 "tcp://127.0.0.1:1");
    EXPECT_ERROR("is not an address", "--listen", "127.0.0.1:7420");
    EXPECT_ERROR("is not an address", "--listen", "tcp://");
    EXPECT_ERROR("is not an address", "--listen", "://x");
    EXPECT_ERROR("is not an address", "--listen=");
    char *argv[2 + 2 * (CONFIG_MAX_LISTEN + 1)];
    char urls[CONFIG_MAX_LISTEN + 1][32];
    int argc = 0;
    argv[argc++] = "lsmkv-server";
    for (int i = 0; i <= CONFIG_MAX_LISTEN; i++) {
        snprintf(urls[i], sizeof(urls[i]), "tcp://127.0.0.1:%d", 1000 + i);
        argv[argc++] = "--listen";
        argv[argc++] = urls[i];
    }
    argv[argc] = NULL;
    config cfg;
    lsmkv_error err;
    assert_int_equal(config_parse(&cfg, argc, argv, &err), LSMKV_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "at most"));
}

static void
test_parse_bytes(void **state)
{
    static const struct {
        const char *text;
        uint64_t value;
    } good[] = {
        {"0", 0},
        {"1", 1},
        {"512", 512},
        {"4K", 4096},
        {"4k", 4096},
        {"4KB", 4096},
        {"4KiB", 4096},
        {"4kib", 4096},
        {"3M", 3u << 20},
        {"2G", 2ull << 30},
        {"16512K", CONFIG_DEFAULT_MAX_MESSAGE},
        {"18446744073709551615", UINT64_MAX},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        uint64_t v = 12345;
        if (!config_parse_bytes(good[i].text, &v)) {
            fail_msg("'%s' was refused", good[i].text);
        }
        assert_int_equal(v, good[i].value);
    }
    static const char *const bad[] = {"",
                                      "K",
                                      "-1",
                                      " 5",
                                      "+5",
                                      "0x10",
                                      "5 ",
                                      "5T",
                                      "5KK",
                                      "5Kx",
                                      "1.5M",
                                      "5MiBs",
                                      "18446744073709551616",
                                      "17179869184G"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 777;
        if (config_parse_bytes(bad[i], &v)) {
            fail_msg("'%s' was accepted", bad[i]);
        }
        assert_int_equal(v, 777); /* untouched on failure */
    }
}

static void
test_byte_flags_out_of_range(void **state)
{
    EXPECT_ERROR("--memtable-size: 10 is out of range", "--memtable-size", "10");
    EXPECT_ERROR("out of range", "--memtable-size", "2G");
    EXPECT_ERROR("is not a byte count", "--memtable-size", "lots");
    EXPECT_ERROR("out of range", "--max-message-size", "100");
    EXPECT_ERROR("out of range", "--max-message-size", "2G");
    EXPECT_ERROR("out of range", "--block-cache-size", "2048G");
    EXPECT_ERROR("is not a byte count", "--block-cache-size", "-1");
    EXPECT_ERROR("--level1-target-size: 64000 is out of range", "--level1-target-size", "64000");
    EXPECT_ERROR("out of range", "--level1-target-size", "2048G");
    EXPECT_ERROR("--sstable-target-size: 1K is out of range", "--sstable-target-size", "1K");
    EXPECT_ERROR("is not a byte count", "--sstable-target-size", "big");
}

static void
test_workers_errors(void **state)
{
    EXPECT_ERROR("--workers: '0' is not a number between 1 and 1024", "--workers", "0");
    EXPECT_ERROR("is not a number", "--workers", "-3");
    EXPECT_ERROR("is not a number", "--workers", "1025");
    EXPECT_ERROR("is not a number", "--workers", "8x");
    EXPECT_ERROR("is not a number", "--workers", "");
    EXPECT_ERROR("is not a number", "--workers", "99999999999999999999");
}

static void
test_names_errors_list_the_choices(void **state)
{
    EXPECT_ERROR("--sync: 'sometimes' is not one of: always, none", "--sync", "sometimes");
    EXPECT_ERROR("is not one of: error, warn, info, debug", "--log-level", "trace");
    EXPECT_ERROR("is not one of: none, lz4, zstd", "--compression", "gzip");
    EXPECT_ERROR("is not one of: callbacks, threads", "--io-model", "fibers");
    EXPECT_ERROR("is not one of", "--sync", "ALWAYS"); /* names are exact */
}

static void
test_flag_syntax_errors(void **state)
{
    EXPECT_ERROR("unknown flag '--port'", "--port", "1");
    EXPECT_ERROR("unknown flag '--listenx'", "--listenx=tcp://a:1");
    EXPECT_ERROR("unexpected argument 'serve'", "serve");
    EXPECT_ERROR("unexpected argument '-x'", "-x");
    EXPECT_ERROR("unexpected argument '--'", "--");
    EXPECT_ERROR("--data-dir needs a value", "--data-dir");
    EXPECT_ERROR("--help takes no value", "--help=yes");
    EXPECT_ERROR("--data-dir: the directory is empty", "--data-dir", "");
}

static void
test_failed_parse_leaves_config_untouched(void **state)
{
    config cfg;
    memset(&cfg, 0xab, sizeof(cfg));
    config before = cfg;
    lsmkv_error err;
    assert_int_equal(PARSE(&cfg, &err, "--workers", "4", "--sync", "bad"), LSMKV_INVALID_ARGUMENT);
    assert_memory_equal(&cfg, &before, sizeof(cfg));
    /* err may be NULL */
    char *argv[] = {"lsmkv-server", "--bogus", NULL};
    assert_int_equal(config_parse(&cfg, 2, argv, NULL), LSMKV_INVALID_ARGUMENT);
}

static void
test_help_and_version_flags(void **state)
{
    config cfg;
    lsmkv_error err;
    assert_int_equal(PARSE(&cfg, &err, "--help"), LSMKV_OK);
    assert_true(cfg.help);
    assert_int_equal(PARSE(&cfg, &err, "-h"), LSMKV_OK);
    assert_true(cfg.help);
    assert_int_equal(PARSE(&cfg, &err, "--version"), LSMKV_OK);
    assert_true(cfg.version);
    assert_false(cfg.help);
}

static char *
capture(void (*print)(FILE *))
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    assert_non_null(f);
    print(f);
    fclose(f);
    return text;
}

static void
test_usage_documents_every_visible_flag(void **state)
{
    char *text = capture(config_usage);
    static const char *const visible[] = {"--listen URL",
                                          "--data-dir DIR",
                                          "--sync always|none",
                                          "--memtable-size BYTES",
                                          "--max-message-size BYTES",
                                          "--workers N",
                                          "--log-level error|warn|info|debug",
                                          "--compression none|lz4|zstd",
                                          "--block-cache-size BYTES",
                                          "--level1-target-size BYTES",
                                          "--sstable-target-size BYTES",
                                          "--version",
                                          "--help",
                                          "tcp://127.0.0.1:7420",
                                          "./lsmkv-data"};
    for (size_t i = 0; i < sizeof(visible) / sizeof(visible[0]); i++) {
        if (strstr(text, visible[i]) == NULL) {
            fail_msg("--help lacks '%s'", visible[i]);
        }
    }
    assert_non_null(strstr(text, "--io-model callbacks|threads"));
    free(text);
}

static void
test_version_names_the_libraries(void **state)
{
    char *text = capture(config_print_version);
    assert_non_null(strstr(text, "lsmkv-server "));
    assert_non_null(strstr(text, lsmkv_version()));
    assert_non_null(strstr(text, "nng "));
    assert_non_null(strstr(text, "protobuf-c "));
    free(text);
}

static void
test_names_of_values(void **state)
{
    assert_string_equal(config_sync_name(LSMKV_SYNC_NONE), "none");
    assert_string_equal(config_log_level_name(LSMKV_LOG_WARN), "warn");
    assert_string_equal(config_compression_name(LSMKV_COMPRESSION_ZSTD), "zstd");
    assert_string_equal(config_io_model_name(SERVER_IO_THREADS), "threads");
    assert_string_equal(config_sync_name((lsmkv_sync_mode)42), "?");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_every_flag_with_separate_value),
        cmocka_unit_test(test_every_flag_with_equals_value),
        cmocka_unit_test(test_listen_is_repeatable_and_replaces_the_default),
        cmocka_unit_test(test_listen_errors),
        cmocka_unit_test(test_parse_bytes),
        cmocka_unit_test(test_byte_flags_out_of_range),
        cmocka_unit_test(test_workers_errors),
        cmocka_unit_test(test_names_errors_list_the_choices),
        cmocka_unit_test(test_flag_syntax_errors),
        cmocka_unit_test(test_failed_parse_leaves_config_untouched),
        cmocka_unit_test(test_help_and_version_flags),
        cmocka_unit_test(test_usage_documents_every_visible_flag),
        cmocka_unit_test(test_version_names_the_libraries),
        cmocka_unit_test(test_names_of_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
