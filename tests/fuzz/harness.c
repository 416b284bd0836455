#include "harness.h"

#include <fcntl.h>
#include <ftw.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char scratch[4096];

static int
remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void
remove_scratch(void)
{
    nftw(scratch, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
}

const char *
harness_dir(void)
{
    if (scratch[0] != '\0') {
        return scratch;
    }
    const char *base = getenv("TMPDIR");
    if (base == NULL || *base == '\0') {
        base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    }
    snprintf(scratch, sizeof(scratch), "%s/lsmkv-fuzz-XXXXXX", base);
    if (mkdtemp(scratch) == NULL) {
        perror("mkdtemp");
        abort();
    }
    atexit(remove_scratch);
    return scratch;
}

void
harness_path(char *out, const char *name)
{
    snprintf(out, 4096, "%s/%s", harness_dir(), name);
}

void
harness_write_file(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        abort();
    }
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n <= 0) {
            perror(path);
            abort();
        }
        data += n;
        len -= (size_t)n;
    }
    close(fd);
}

long long
harness_file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

static void
drop_line(void *ctx, lsmkv_log_level level, const char *line)
{
}

const logger *
harness_quiet_logger(void)
{
    static const logger quiet = {.level = LSMKV_LOG_ERROR, .fn = drop_line, .ctx = NULL};
    return &quiet;
}
