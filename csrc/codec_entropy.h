/*
 * codec_entropy.h - order-0 byte entropy of a bounded sample.
 *
 * The estimate looks at no more than CL_ENTROPY_SAMPLE (256) bytes: the whole
 * value when it is that short, else CL_ENTROPY_CHUNKS chunks of
 * CL_ENTROPY_CHUNK bytes spread evenly from the first byte to the last
 * (chunk i starts at i * (len - CHUNK) / (CHUNKS - 1)).
 *
 * The result is the Shannon entropy of the sample's byte histogram in
 * bits per byte with the Miller-Madow small-sample correction, as a Q12
 * fixed-point integer (4096 = 1 bit, 32768 = 8 bits):
 *     H = (T[N] - sum over bytes b of T[count_b] + (m - 1) * K) / N
 * (integer division) where N is the sample size, m the number of distinct
 * bytes in it, T[c] = round(c * log2(c) * 4096) the table in
 * codec_entropy.c and K = CL_ENTROPY_MM = round(4096 / (2 ln 2)).  Without
 * the correction a short random sample looks compressible (300 random bytes
 * measure ~7.3 bits; corrected ~7.7).  Everything is integer arithmetic, so
 * the pure-Python twin computes the same value bit for bit.
 *
 * Contract: reads only [p, p + len); no allocation; O(sample) time.
 */
#ifndef CL_CODEC_ENTROPY_H
#define CL_CODEC_ENTROPY_H

#include "cl_common.h"

#define CL_ENTROPY_SAMPLE 256u
#define CL_ENTROPY_CHUNK 32u
#define CL_ENTROPY_CHUNKS (CL_ENTROPY_SAMPLE / CL_ENTROPY_CHUNK)
#define CL_ENTROPY_ONE_BIT 4096u
#define CL_ENTROPY_MM 2955u

/* Q12 entropy of the sample of [p, p + len); 0 for an empty input. */
uint32_t cl_entropy_q12(const uint8_t *p, size_t len);

/* T[c] for c in [0, CL_ENTROPY_SAMPLE]: round(c * log2(c) * 4096). */
extern const uint32_t cl_entropy_table[CL_ENTROPY_SAMPLE + 1u];

#endif /* CL_CODEC_ENTROPY_H */
