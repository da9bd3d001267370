// A hand-written direct 2-D convolution (forward), the comparator that
// `deno task bench:conv --paths ...,direct` times against oneDNN. A
// measuring aid only: the toolkit ships no native code. The task compiles it
// with
//
//   cc -O3 -mavx512f -mfma -fopenmp -shared -fPIC direct_conv.c -o direct_conv.so
//
// Layouts as tfjs keeps them: x [n, h, w, c] (NHWC), filter [kh, kw, c, oc]
// (HWIO), y [n, oh, ow, oc]. oc must be a multiple of 16 (one AVX-512
// vector). Each task is one output row: blocks of P output pixels by up to
// V vectors of 16 output channels are held in registers (P * V
// accumulators) while the loop runs over the taps and the input channels,
// one filter vector load and P broadcasts per input channel; pixels whose tap
// falls in the padding read a row of zeros, so the inner loop has no branch.
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

#define P 6

typedef struct {
  const float *x, *w;
  float *y;
  int n, h, wd, c, oc, kh, kw, stride, top, left, oh, ow;
  const float *zeros;
} conv_t;

// One block of `count` (<= P) output pixels starting at column ox of output
// row (img, oy), output channels [o0, o0 + 16 * V).
#define BLOCK(V)                                                              \
  static inline void block_v##V(const conv_t *k, int img, int oy, int ox,    \
                                int count, int o0) {                          \
    __m512 acc[P][V];                                                         \
    for (int p = 0; p < P; p++)                                               \
      for (int v = 0; v < V; v++) acc[p][v] = _mm512_setzero_ps();            \
    for (int ky = 0; ky < k->kh; ky++) {                                      \
      int iy = oy * k->stride + ky - k->top;                                  \
      if (iy < 0 || iy >= k->h) continue;                                     \
      const float *row = k->x + ((size_t)img * k->h + iy) * k->wd * k->c;    \
      for (int kx = 0; kx < k->kw; kx++) {                                    \
        const float *xp[P];                                                   \
        for (int p = 0; p < P; p++) {                                         \
          int ix = (ox + p) * k->stride + kx - k->left;                       \
          xp[p] = (p < count && ix >= 0 && ix < k->wd)                        \
                      ? row + (size_t)ix * k->c                               \
                      : k->zeros;                                             \
        }                                                                     \
        const float *wt = k->w + ((size_t)(ky * k->kw + kx) * k->c) * k->oc + \
                          o0;                                                 \
        for (int ci = 0; ci < k->c; ci++) {                                   \
          __m512 wv[V];                                                       \
          for (int v = 0; v < V; v++)                                         \
            wv[v] = _mm512_loadu_ps(wt + (size_t)ci * k->oc + 16 * v);        \
          for (int p = 0; p < P; p++) {                                       \
            __m512 xb = _mm512_set1_ps(xp[p][ci]);                            \
            for (int v = 0; v < V; v++)                                       \
              acc[p][v] = _mm512_fmadd_ps(xb, wv[v], acc[p][v]);              \
          }                                                                   \
        }                                                                     \
      }                                                                       \
    }                                                                         \
    float *out = k->y + (((size_t)img * k->oh + oy) * k->ow + ox) * k->oc +  \
                 o0;                                                          \
    for (int p = 0; p < count; p++)                                           \
      for (int v = 0; v < V; v++)                                             \
        _mm512_storeu_ps(out + (size_t)p * k->oc + 16 * v, acc[p][v]);       \
  }

BLOCK(1)
BLOCK(2)
BLOCK(3)
BLOCK(4)

static void output_row(const conv_t *k, int img, int oy) {
  for (int ox = 0; ox < k->ow; ox += P) {
    int count = k->ow - ox < P ? k->ow - ox : P;
    for (int o0 = 0; o0 < k->oc; o0 += 64) {
      switch ((k->oc - o0 >= 64 ? 64 : k->oc - o0) / 16) {
        case 1: block_v1(k, img, oy, ox, count, o0); break;
        case 2: block_v2(k, img, oy, ox, count, o0); break;
        case 3: block_v3(k, img, oy, ox, count, o0); break;
        default: block_v4(k, img, oy, ox, count, o0); break;
      }
    }
  }
}

// Returns 0, or -1 when oc is not a multiple of 16 or memory ran out.
int direct_conv2d(const float *x, const float *w, float *y, int n, int h,
                  int wd, int c, int oc, int kh, int kw, int stride, int top,
                  int left, int oh, int ow, int threads) {
  if (oc % 16 != 0) return -1;
  float *zeros = calloc((size_t)c, sizeof(float));
  if (!zeros) return -1;
  conv_t k = {x, w, y, n, h, wd, c, oc, kh, kw, stride, top, left, oh, ow,
              zeros};
  int rows = n * oh;
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int r = 0; r < rows; r++) output_row(&k, r / oh, r % oh);
  free(zeros);
  return 0;
}
