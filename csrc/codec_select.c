/* codec_select.c - the compression selector; rules and invariants are in
 * codec_select.h. */
#include "codec_select.h"

#include <string.h>

#include "codec_entropy.h"
#include "codec_frame.h"
#include "codec_sniff.h"

int cl_select_cfg_valid(const cl_select_cfg *cfg)
{
    uint32_t i;
    if (cfg->n_rules > CL_SELECT_MAX_RULES)
        return 0;
    if (cfg->backoff_min > cfg->backoff_max)
        return 0;
    if (cfg->fast_codec >= CL_CODEC_COUNT || cfg->fast_codec == CL_CODEC_ZSTD_DICT)
        return 0;
    for (i = 0; i < cfg->n_rules; i++) {
        if (cfg->rules[i].codec >= CL_CODEC_COUNT || cfg->rules[i].codec == CL_CODEC_ZSTD_DICT)
            return 0;
        if (i > 0 && cfg->rules[i].max_size < cfg->rules[i - 1].max_size)
            return 0;
    }
    return 1;
}

void cl_select_check(const cl_select_cfg *cfg, const cl_select_state *st)
{
#ifdef CL_DEBUG
    CL_ASSERT(cl_select_cfg_valid(cfg));
    CL_ASSERT(cfg->learn_after == 0 || st->fails < cfg->learn_after);
    CL_ASSERT(st->backoff >= cfg->backoff_min && st->backoff <= cfg->backoff_max);
#else
    (void)cfg;
    (void)st;
#endif
}

void cl_select_init(cl_select_state *st, const cl_select_cfg *cfg)
{
    memset(st, 0, sizeof(*st));
    st->backoff = cfg->backoff_min;
    cl_select_check(cfg, st);
}

void cl_select_restart(cl_select_state *st, const cl_select_cfg *cfg)
{
    st->fails = 0;
    st->skip = 0;
    st->backoff = cfg->backoff_min;
    cl_select_check(cfg, st);
}

/* Whether a sniffed format is final: PNG and JPEG files often carry
 * uncompressed parts (metadata, ICC profiles, text chunks, thumbnails, stored
 * blocks) that a general compressor still shrinks by 5-30 %, so they go on
 * to the entropy check like unknown data; the other formats are compressed
 * streams through and through. */
static int sniffed_final(int fmt)
{
    return fmt != CL_FMT_UNKNOWN && fmt != CL_FMT_PNG && fmt != CL_FMT_JPEG;
}

static cl_choice choice(uint8_t codec, int8_t level, uint8_t reason, uint32_t entropy)
{
    cl_choice c;
    c.codec = codec;
    c.level = level;
    c.reason = reason;
    c.entropy = entropy;
    return c;
}

cl_choice cl_select(const cl_select_cfg *cfg, cl_select_state *st, const uint8_t *p, size_t len,
                    int has_dict)
{
    uint32_t h, i;
    int fmt;
    cl_choice c;

    if (len < cfg->min_size) {
        c = choice(CL_CODEC_NONE, 0, CL_WHY_SMALL, 0);
        goto done;
    }
    fmt = cl_sniff(p, len);
    if (sniffed_final(fmt)) {
        c = choice(CL_CODEC_NONE, 0, CL_WHY_SNIFFED, 0);
        goto done;
    }
    if (fmt == CL_FMT_UNKNOWN && st->skip > 0) {
        st->skip--;
        c = choice(CL_CODEC_NONE, 0, CL_WHY_BACKOFF, 0);
        goto done;
    }
    h = cl_entropy_q12(p, len);
    if (h > cfg->entropy_limit) {
        c = choice(CL_CODEC_NONE, 0, CL_WHY_ENTROPY, h);
        goto done;
    }
    if (has_dict && len <= cfg->dict_max_size) {
        c = choice(CL_CODEC_ZSTD_DICT, cfg->dict_level, CL_WHY_DICT, h);
        goto done;
    }
    if (h > cfg->fast_entropy) {
        c = choice(cfg->fast_codec, cfg->fast_level, CL_WHY_FAST, h);
        goto done;
    }
    c = choice(CL_CODEC_NONE, 0, CL_WHY_RULE, h);
    for (i = 0; i < cfg->n_rules; i++) {
        if ((uint64_t)len <= cfg->rules[i].max_size) {
            c.codec = cfg->rules[i].codec;
            c.level = cfg->rules[i].level;
            break;
        }
    }
done:
    st->reasons[c.reason]++;
    cl_select_check(cfg, st);
    return c;
}

int cl_select_learns(const uint8_t *p, size_t len)
{
    return cl_sniff(p, len) == CL_FMT_UNKNOWN;
}

int cl_select_keep(const cl_select_cfg *cfg, cl_select_state *st, size_t plain, size_t compressed,
                   int learn)
{
    int keep = compressed < plain && plain - compressed >= cfg->min_saving;
    if (keep)
        st->kept++;
    else
        st->dropped++;
    if (!learn || cfg->learn_after == 0)
        return keep;
    if (keep) {
        st->fails = 0;
        st->backoff = cfg->backoff_min;
    } else if (++st->fails >= cfg->learn_after) {
        st->skip = st->backoff;
        st->backoff = st->backoff > cfg->backoff_max / 2u ? cfg->backoff_max : st->backoff * 2u;
        st->fails = cfg->learn_after - 1u;
        st->pauses++;
    }
    cl_select_check(cfg, st);
    return keep;
}
