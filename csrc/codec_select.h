/*
 * codec_select.h - the adaptive compression selector.
 *
 * cl_select() picks a codec and level for one serialized value; after the
 * caller compressed it, cl_select_keep() says whether the compressed form is
 * worth keeping and feeds the outcome back into the namespace's state.
 *
 * Decision order (the first that applies wins; `reason` records which):
 *   1. CL_WHY_SMALL    len < min_size: stored as it is.  The caller skips
 *                      the call altogether for such values.
 *   2. CL_WHY_SNIFFED  the value starts like an already-compressed format
 *                      (codec_sniff.h) other than PNG or JPEG: as it is.
 *                      PNG and JPEG files often hold uncompressed parts
 *                      (metadata, thumbnails), so they go on to step 4.
 *   3. CL_WHY_BACKOFF  the namespace is backing off (below) and the value is
 *                      not PNG or JPEG: as it is.
 *   4. CL_WHY_ENTROPY  the sampled byte entropy (codec_entropy.h) is above
 *                      entropy_limit: as it is.
 *   5. CL_WHY_DICT     a dictionary is active and len <= dict_max_size:
 *                      zstd-dict at dict_level (a dictionary trained on the
 *                      namespace's values never compresses them worse than
 *                      zstd alone at the same level, and usually better).
 *   6. CL_WHY_FAST     the entropy is above fast_entropy: fast_codec at
 *                      fast_level (a cheap attempt on dense data).
 *   7. CL_WHY_RULE     the first rule with len <= max_size, in order (the
 *                      rules are sorted by max_size; the last should be
 *                      UINT64_MAX).  No rule matches: as it is.
 * The profile knob (latency | balanced | memory) is a set of values for
 * these fields, filled in by the Python layer; the logic here is the same
 * for every profile.
 *
 * Learning (per namespace, deterministic: counted in values, not time)
 *   A compression that does not save min_saving bytes is a failure.  After
 *   learn_after failures in a row, the next `backoff` values are stored
 *   without trying (reason CL_WHY_BACKOFF) and backoff doubles, up to
 *   backoff_max.  After the pause, one more failure starts the next, longer
 *   pause at once; one success resets the failure count and backoff to
 *   backoff_min.  Values rejected by steps 1, 2 and 4 do not count.
 *   PNG and JPEG values neither wait out a pause nor feed learning (the
 *   caller passes learn = cl_select_learns()): whether one of them
 *   compresses says nothing about the namespace's other values.
 *
 * Invariants (cl_select_check, CL_DEBUG builds)
 *   S1 fails < learn_after (when learn_after > 0).
 *   S2 backoff_min <= backoff <= backoff_max.
 *   S3 the configuration is valid (cl_select_cfg_valid).
 *
 * Contract: cl_select reads at most CL_ENTROPY_SAMPLE + CL_SNIFF_BYTES bytes
 * of the value and never past len; no allocation; no clock.
 */
#ifndef CL_CODEC_SELECT_H
#define CL_CODEC_SELECT_H

#include "cl_common.h"

#define CL_SELECT_MAX_RULES 4u

enum {
    CL_WHY_SMALL = 0,
    CL_WHY_BACKOFF = 1,
    CL_WHY_SNIFFED = 2,
    CL_WHY_ENTROPY = 3,
    CL_WHY_DICT = 4,
    CL_WHY_FAST = 5,
    CL_WHY_RULE = 6,
    CL_WHY_COUNT = 7
};

typedef struct cl_select_rule {
    uint64_t max_size; /* applies to values of at most this many bytes */
    uint8_t codec;     /* CL_CODEC_*, never zstd-dict */
    int8_t level;
} cl_select_rule;

typedef struct cl_select_cfg {
    uint32_t min_size;      /* shorter values are never compressed */
    uint32_t entropy_limit; /* Q12 bits/byte: denser samples are not compressed */
    uint32_t fast_entropy;  /* Q12: denser samples get fast_codec */
    uint8_t fast_codec;
    int8_t fast_level;
    uint32_t dict_max_size; /* values up to this size use the dictionary */
    int8_t dict_level;
    uint32_t min_saving;    /* bytes a compressed frame must save to be kept */
    uint32_t learn_after;   /* failures in a row before a pause; 0: never pause */
    uint32_t backoff_min;   /* values in the first pause */
    uint32_t backoff_max;   /* longest pause */
    uint32_t n_rules;
    cl_select_rule rules[CL_SELECT_MAX_RULES];
} cl_select_cfg;

typedef struct cl_select_state {
    uint32_t fails;   /* failures in a row */
    uint32_t skip;    /* values left in the current pause */
    uint32_t backoff; /* length of the next pause */
    uint64_t reasons[CL_WHY_COUNT];
    uint64_t kept, dropped, pauses;
} cl_select_state;

typedef struct cl_choice {
    uint8_t codec; /* CL_CODEC_* (CL_CODEC_NONE: store as it is) */
    int8_t level;
    uint8_t reason; /* CL_WHY_* */
    uint32_t entropy; /* Q12 estimate, when it was computed (else 0) */
} cl_choice;

/* Whether cfg is usable: rules sorted, codecs known, backoff bounds ordered. */
int cl_select_cfg_valid(const cl_select_cfg *cfg);
/* Ends any learned pause (a new dictionary is a new chance to compress);
 * the counters are kept. */
void cl_select_restart(cl_select_state *st, const cl_select_cfg *cfg);
/* Starts a namespace's state. */
void cl_select_init(cl_select_state *st, const cl_select_cfg *cfg);
/* Chooses how to store [p, p + len).  has_dict: a dictionary is active. */
cl_choice cl_select(const cl_select_cfg *cfg, cl_select_state *st, const uint8_t *p, size_t len,
                    int has_dict);
/* Whether the outcome of compressing [p, p + len) should feed learning:
 * not for PNG or JPEG values (see Learning above). */
int cl_select_learns(const uint8_t *p, size_t len);
/* Whether a compressed frame of `compressed` bytes is worth keeping over the
 * `plain` bytes the value takes uncompressed; learn: feed the outcome into
 * the namespace state (the selector chose the codec). */
int cl_select_keep(const cl_select_cfg *cfg, cl_select_state *st, size_t plain, size_t compressed,
                   int learn);
/* Verifies S1-S3; aborts on violation in CL_DEBUG builds, no-op otherwise. */
void cl_select_check(const cl_select_cfg *cfg, const cl_select_state *st);

#endif /* CL_CODEC_SELECT_H */
