/*
 * scan_page — one page of a Scan RPC: the pairs of a key range read in order
 * from one point-in-time iterator, cut at a pair count or at a byte budget
 * (the packed size of the ScanResponse that carries them), and the key the
 * next page resumes at. It knows the sizes of kv.proto's ScanResponse on the
 * wire (pairs = 1 and resume_key = 2, KeyValue's key = 1 and value = 2) but
 * not protobuf-c's generated code: kv_service.c turns a page into a message.
 *
 * The resume key is the first key of the range not taken, so a client that
 * passes it as the next start misses nothing and repeats nothing. When that
 * key is too long to fit beside the page, the shortest key between the last
 * key taken and it is sent instead, which serves as well. A pair after the
 * first is taken only if the page keeps room for its key plus one byte, the
 * longest such stand-in can be.
 */
#ifndef LSMKV_SERVER_SCAN_PAGE_H
#define LSMKV_SERVER_SCAN_PAGE_H

#include "lsmkv/lsmkv.h"
#include "slice.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct scan_page scan_page;

/* What to read: [start, end) ∩ keys beginning with prefix. Borrowed. */
typedef struct scan_request {
    slice start;    /* inclusive; empty: from the first key */
    slice end;      /* exclusive; empty: no end (the caller checks start <= end) */
    slice prefix;   /* empty: every key */
    uint32_t limit; /* the most pairs, at least 1 */
    bool keys_only; /* values are left out (and cost nothing) */
    size_t budget;  /* the most bytes the packed ScanResponse may take; 0: no limit */
} scan_request;

/*
 * Reads one page of req from db (a view of its own). On success *out owns
 * copies of the pairs: free it with scan_page_free. LSMKV_NO_SPACE when the
 * range's first pair does not fit the budget, alone or (when more keys
 * follow) with a resume key; the iterator's error (e.g. LSMKV_CORRUPTION)
 * when one cut the read short.
 */
int scan_page_read(lsmkv *db, const scan_request *req, scan_page **out, lsmkv_error *err);

/* NULL is a no-op. */
void scan_page_free(scan_page *page);

size_t scan_page_count(const scan_page *page);

/* Pair i (< count), in ascending key order; the bytes live as long as the page. */
void scan_page_pair(const scan_page *page, size_t i, slice *key, slice *value);

/* Where the next page starts; empty when the range is exhausted. */
slice scan_page_resume_key(const scan_page *page);

/* The packed size of the ScanResponse holding the page: within the budget. */
size_t scan_page_packed_size(const scan_page *page);

#endif
