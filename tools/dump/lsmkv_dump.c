/*
 * lsmkv-dump — inspect and verify lsmkv's files, the way sst_dump/ldb do for
 * RocksDB and redis-check-aof does for Redis. It reads with the engine's own
 * readers and never modifies what it reads.
 *
 *   lsmkv-dump sst FILE       footer, properties, bloom filter, index, entries,
 *                             and the checksum of every block
 *   lsmkv-dump wal FILE       records, their batches and ops, where a torn
 *                             tail or a bad record starts
 *   lsmkv-dump manifest DIR   counters, live tables per level, WAL segments,
 *                             files the manifest does not name
 *   lsmkv-dump verify DIR     a whole closed store: exit 0 only when clean
 *
 * This file only parses the command line; each subcommand lives in its own
 * dump_<command>.c.
 */
#include "dump.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    OPT_JSON = 1 << 0,
    OPT_FULL = 1 << 1,
    OPT_ENTRIES = 1 << 2,
    OPT_BLOCKS = 1 << 3,
    OPT_LIMIT = 1 << 4,
};

typedef struct command {
    const char *name;
    const char *operand;
    int (*run)(const dump_options *o);
    int options; /* OPT_* it accepts */
} command;

static const command commands[] = {
    {"sst", "FILE", dump_sst_command, OPT_JSON | OPT_FULL | OPT_ENTRIES | OPT_BLOCKS | OPT_LIMIT},
    {"wal", "FILE", dump_wal_command, OPT_JSON | OPT_FULL | OPT_ENTRIES | OPT_LIMIT},
    {"manifest", "DIR", dump_manifest_command, OPT_JSON | OPT_FULL},
    {"verify", "DIR", dump_verify_command, OPT_JSON},
};

static const char synopsis[] =
    "usage: lsmkv-dump sst FILE [--entries|--no-entries] [--blocks] [--limit N] [--full] [--json]\n"
    "       lsmkv-dump wal FILE [--entries|--no-entries] [--limit N] [--full] [--json]\n"
    "       lsmkv-dump manifest DIR [--full] [--json]\n"
    "       lsmkv-dump verify DIR [--json]\n";

static const char usage_text[] =
    "\n"
    "  sst       an SSTable: footer, properties, bloom filter, index, entries, and the\n"
    "            checksum of every block (each bad block is reported; the others are\n"
    "            still checked)\n"
    "  wal       a WAL segment: every record (offset, length, batch sequence, ops) and\n"
    "            where a torn tail or bad record starts\n"
    "  manifest  a store's MANIFEST: counters, live tables per level, WAL segments to\n"
    "            replay or already covered, files it does not name\n"
    "  verify    a whole closed store: manifest, every table's blocks and properties,\n"
    "            level ordering, WAL readability; warnings do not fail it\n"
    "\n"
    "  --entries, --no-entries  list (default) or omit the entries (sst) or ops (wal)\n"
    "  --blocks                 list every data block: offset, size, compression, last key\n"
    "  --limit N                list at most N entries (sst) or records (wal)\n"
    "  --full                   show keys and values whole, not their first 64 bytes\n"
    "  --json                   one JSON document on stdout; key and value bytes are\n"
    "                           strings of code points U+0000-U+00FF, one per byte\n"
    "                           (decode with .encode('latin-1'))\n"
    "  -h, --help               this text\n"
    "\n"
    "Exit status: 0 clean (warnings allowed), 1 damage found, 2 bad usage or an\n"
    "input that cannot be read.\n";

static void
print_help(void)
{
    fputs(synopsis, stdout);
    fputs(usage_text, stdout);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("lsmkv-dump: ", stderr);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n", stderr);
    fputs(synopsis, stderr);
    fputs("Run 'lsmkv-dump --help' for details.\n", stderr);
    return DUMP_EXIT_USAGE;
}

static const command *
find_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
        if (strcmp(commands[i].name, name) == 0) {
            return &commands[i];
        }
    }
    return NULL;
}

static bool
parse_limit(const char *text, uint64_t *out)
{
    if (text == NULL || *text < '0' || *text > '9') {
        return false;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno != 0 || *end != '\0') {
        return false;
    }
    *out = v;
    return true;
}

/* The value of --limit N or --limit=N; advances *i past a separate value. */
static int
parse_limit_option(int argc, char **argv, int *i, dump_options *o)
{
    const char *a = argv[*i];
    const char *value = NULL;
    if (strncmp(a, "--limit=", 8) == 0) {
        value = a + 8;
    } else if (*i + 1 < argc) {
        value = argv[++*i];
    }
    if (!parse_limit(value, &o->limit)) {
        return usage_error("--limit needs a number, not '%s'", value ? value : "");
    }
    return DUMP_EXIT_CLEAN;
}

/* The OPT_* flag argument a names and applies it to o; 0 if a is no option. */
static int
apply_flag(const char *a, dump_options *o)
{
    if (strcmp(a, "--json") == 0) {
        o->json = true;
        return OPT_JSON;
    }
    if (strcmp(a, "--full") == 0) {
        o->full = true;
        return OPT_FULL;
    }
    if (strcmp(a, "--entries") == 0 || strcmp(a, "--no-entries") == 0) {
        o->entries = a[2] == 'e';
        return OPT_ENTRIES;
    }
    if (strcmp(a, "--blocks") == 0) {
        o->blocks = true;
        return OPT_BLOCKS;
    }
    if (strcmp(a, "--limit") == 0 || strncmp(a, "--limit=", 8) == 0) {
        return OPT_LIMIT;
    }
    return 0;
}

/* Parses the arguments after the command name; *help is set by -h/--help. */
static int
parse_arguments(const command *c, int argc, char **argv, dump_options *o, bool *help)
{
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            *help = true;
            return DUMP_EXIT_CLEAN;
        }
        int flag = apply_flag(a, o);
        if (flag == 0 && a[0] == '-' && a[1] != '\0') {
            return usage_error("unknown option '%s'", a);
        }
        if (flag == 0) {
            if (o->path != NULL) {
                return usage_error("%s takes one %s, not also '%s'", c->name, c->operand, a);
            }
            o->path = a;
            continue;
        }
        if ((c->options & flag) == 0) {
            return usage_error("option '%s' does not apply to %s", a, c->name);
        }
        if (flag == OPT_LIMIT && parse_limit_option(argc, argv, &i, o) != DUMP_EXIT_CLEAN) {
            return DUMP_EXIT_USAGE;
        }
    }
    if (o->path == NULL || *o->path == '\0') {
        return usage_error("%s needs a %s", c->name, c->operand);
    }
    return DUMP_EXIT_CLEAN;
}

int
main(int argc, char **argv)
{
    if (argc < 2) {
        return usage_error("no command given");
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        print_help();
        return DUMP_EXIT_CLEAN;
    }
    const command *c = find_command(argv[1]);
    if (c == NULL) {
        return usage_error("unknown command '%s'", argv[1]);
    }
    dump_options o = {.entries = true, .limit = UINT64_MAX};
    bool help = false;
    int rc = parse_arguments(c, argc, argv, &o, &help);
    if (rc != DUMP_EXIT_CLEAN || help) {
        if (help) {
            print_help();
        }
        return rc;
    }
    return c->run(&o);
}
