/* codec_entropy.c - sampled byte entropy; see codec_entropy.h.
 *
 * One 16-bit histogram (counts never exceed CL_ENTROPY_SAMPLE), filled four
 * bytes at a time: a run of four equal bytes is one add instead of four
 * increments of the same counter, each waiting for the previous store
 * (which made low-entropy data twice as slow as text).  The cost is well
 * under a nanosecond per sampled byte plus a 256-step pass over the
 * histogram, which is why the sample is capped at 256 bytes. */
#include "codec_entropy.h"

#include <string.h>

/* T[c] = round(c * log2(c) * 4096), c = 0..256 (T[0] = T[1] = 0). */
const uint32_t cl_entropy_table[CL_ENTROPY_SAMPLE + 1u] = {
    0u, 0u, 8192u, 19476u, 32768u, 47553u, 63528u, 80492u,
    98304u, 116856u, 136066u, 155868u, 176208u, 197041u, 218329u, 240039u,
    262144u, 284618u, 307440u, 330591u, 354052u, 377810u, 401848u, 426156u,
    450720u, 475531u, 500578u, 525853u, 551346u, 577050u, 602959u, 629064u,
    655360u, 681841u, 708500u, 735334u, 762336u, 789503u, 816829u, 844311u,
    871945u, 899726u, 927651u, 955717u, 983921u, 1012258u, 1040727u, 1069325u,
    1098048u, 1126895u, 1155862u, 1184947u, 1214148u, 1243463u, 1272889u, 1302425u,
    1332068u, 1361816u, 1391669u, 1421623u, 1451677u, 1481830u, 1512080u, 1542425u,
    1572864u, 1603395u, 1634017u, 1664729u, 1695529u, 1726416u, 1757388u, 1788445u,
    1819585u, 1850807u, 1882110u, 1913493u, 1944955u, 1976494u, 2008111u, 2039803u,
    2071569u, 2103410u, 2135324u, 2167309u, 2199366u, 2231494u, 2263690u, 2295956u,
    2328289u, 2360690u, 2393157u, 2425689u, 2458287u, 2490949u, 2523674u, 2556462u,
    2589313u, 2622225u, 2655197u, 2688231u, 2721323u, 2754475u, 2787686u, 2820954u,
    2854280u, 2887663u, 2921102u, 2954596u, 2988146u, 3021751u, 3055409u, 3089122u,
    3122888u, 3156706u, 3190577u, 3224500u, 3258474u, 3292499u, 3326574u, 3360700u,
    3394875u, 3429099u, 3463373u, 3497694u, 3532064u, 3566482u, 3600946u, 3635458u,
    3670016u, 3704620u, 3739270u, 3773966u, 3808707u, 3843492u, 3878322u, 3913196u,
    3948114u, 3983075u, 4018079u, 4053126u, 4088216u, 4123348u, 4158522u, 4193737u,
    4228994u, 4264292u, 4299630u, 4335009u, 4370428u, 4405887u, 4441386u, 4476924u,
    4512502u, 4548118u, 4583773u, 4619466u, 4655197u, 4690966u, 4726773u, 4762617u,
    4798499u, 4834417u, 4870372u, 4906364u, 4942391u, 4978455u, 5014555u, 5050690u,
    5086861u, 5123066u, 5159307u, 5195583u, 5231893u, 5268237u, 5304616u, 5341028u,
    5377474u, 5413954u, 5450468u, 5487014u, 5523593u, 5560206u, 5596851u, 5633528u,
    5670238u, 5706980u, 5743753u, 5780559u, 5817396u, 5854265u, 5891164u, 5928095u,
    5965057u, 6002050u, 6039073u, 6076127u, 6113211u, 6150325u, 6187469u, 6224643u,
    6261847u, 6299080u, 6336343u, 6373635u, 6410956u, 6448306u, 6485685u, 6523092u,
    6560528u, 6597993u, 6635485u, 6673006u, 6710555u, 6748132u, 6785736u, 6823369u,
    6861028u, 6898715u, 6936429u, 6974171u, 7011939u, 7049734u, 7087556u, 7125404u,
    7163279u, 7201181u, 7239108u, 7277062u, 7315042u, 7353048u, 7391079u, 7429137u,
    7467219u, 7505328u, 7543461u, 7581620u, 7619804u, 7658013u, 7696247u, 7734506u,
    7772790u, 7811098u, 7849431u, 7887788u, 7926169u, 7964575u, 8003005u, 8041459u,
    8079936u, 8118438u, 8156963u, 8195512u, 8234085u, 8272680u, 8311300u, 8349942u,
    8388608u
};

static void count(uint16_t h[256], const uint8_t *q, size_t m)
{
    size_t k = 0;
    for (; k + 4u <= m; k += 4u) {
        uint8_t b = q[k];
        if (q[k + 1u] == b && q[k + 2u] == b && q[k + 3u] == b) {
            h[b] = (uint16_t)(h[b] + 4u);
        } else {
            h[b]++;
            h[q[k + 1u]]++;
            h[q[k + 2u]]++;
            h[q[k + 3u]]++;
        }
    }
    for (; k < m; k++)
        h[q[k]]++;
}

uint32_t cl_entropy_q12(const uint8_t *p, size_t len)
{
    uint16_t h[256];
    size_t n, i;
    uint64_t sum = 0;
    uint32_t distinct = 0;

    if (len == 0)
        return 0;
    memset(h, 0, sizeof(h));
    if (len <= CL_ENTROPY_SAMPLE) {
        count(h, p, len);
        n = len;
    } else {
        uint64_t span = (uint64_t)(len - CL_ENTROPY_CHUNK);
        for (i = 0; i < CL_ENTROPY_CHUNKS; i++) {
            const uint8_t *chunk = p + (size_t)(span * i / (CL_ENTROPY_CHUNKS - 1u));
            CL_ASSERT(chunk + CL_ENTROPY_CHUNK <= p + len);
            count(h, chunk, CL_ENTROPY_CHUNK);
        }
        n = CL_ENTROPY_SAMPLE;
    }
    for (i = 0; i < 256u; i++) {
        uint32_t c = h[i];
        CL_ASSERT(c <= CL_ENTROPY_SAMPLE);
        sum += cl_entropy_table[c];
        distinct += (uint32_t)(c != 0);
    }
    CL_ASSERT(sum <= cl_entropy_table[n]);
    CL_ASSERT(distinct >= 1u);
    sum = (uint64_t)cl_entropy_table[n] - sum + (uint64_t)(distinct - 1u) * CL_ENTROPY_MM;
    return (uint32_t)(sum / n);
}
