/* tools/train/nn_impl.h: the layers of nn.h, written once over a real type.
 * Included by nn.c twice, with REAL = float / SFX = f and REAL = double / SFX = d. */
#define NN_CAT2(a, b) a##_##b
#define NN_CAT(a, b) NN_CAT2(a, b)
#define FN(name) NN_CAT(name, SFX)

/* Eight partial sums: the compiler turns this into vector code without being allowed to
 * reorder a single sum, and the result does not depend on the thread count. */
static REAL FN(nn_dot)(const REAL *a, const REAL *b, int n)
{
    REAL acc[8] = { 0 };
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            acc[j] += a[i + j] * b[i + j];
    REAL s = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
    for (; i < n; i++)
        s += a[i] * b[i];
    return s;
}

/* Eight lanes at a time, restrict-qualified: at -O2 the compiler vectorizes this without the
 * run-time alias checks its cheap cost model will not pay for. */
static void FN(nn_axpy)(REAL *restrict y, REAL a, const REAL *restrict x, int n)
{
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++)
            y[i + j] += a * x[i + j];
    for (; i < n; i++)
        y[i] += a * x[i];
}

void FN(nn_linear_fwd)(REAL *Y, const REAL *X, const REAL *W, int n, int in, int out)
{
    for (int t = 0; t < n; t++)
        for (int o = 0; o < out; o++)
            Y[(int64_t)t * out + o] = FN(nn_dot)(X + (int64_t)t * in, W + (int64_t)o * in, in);
}

void FN(nn_linear_bwd_x)(REAL *dX, const REAL *dY, const REAL *W, int n, int in, int out)
{
    if (!dX)
        return;
    for (int t = 0; t < n; t++)
        for (int o = 0; o < out; o++)
            FN(nn_axpy)(dX + (int64_t)t * in, dY[(int64_t)t * out + o], W + (int64_t)o * in, in);
}

void FN(nn_linear_bwd_w)(REAL *dW, const REAL *dY, const REAL *X, int n, int in, int out,
                         int o0, int o1)
{
    for (int o = o0; o < o1; o++)
        for (int t = 0; t < n; t++) {
            REAL g = dY[(int64_t)t * out + o];
            if (g != 0)
                FN(nn_axpy)(dW + (int64_t)o * in, g, X + (int64_t)t * in, in);
        }
}

void FN(nn_rmsnorm_fwd)(REAL *Y, REAL *rstd, const REAL *X, const REAL *g, int n, int d,
                        REAL eps)
{
    for (int t = 0; t < n; t++) {
        const REAL *x = X + (int64_t)t * d;
        REAL ms = FN(nn_dot)(x, x, d) / d;
        REAL r = (REAL)1 / sqrt(ms + eps);
        rstd[t] = r;
        for (int i = 0; i < d; i++)
            Y[(int64_t)t * d + i] = x[i] * r * g[i];
    }
}

void FN(nn_rmsnorm_bwd)(REAL *dX, REAL *dg, const REAL *dY, const REAL *X, const REAL *g,
                        const REAL *rstd, int n, int d)
{
    for (int t = 0; t < n; t++) {
        const REAL *x = X + (int64_t)t * d, *dy = dY + (int64_t)t * d;
        REAL r = rstd[t], s = 0;
        for (int i = 0; i < d; i++) {
            s += dy[i] * g[i] * x[i];
            if (dg)
                dg[i] += dy[i] * x[i] * r;
        }
        REAL c = r * r * r * s / d;
        for (int i = 0; i < d; i++)
            dX[(int64_t)t * d + i] += r * dy[i] * g[i] - c * x[i];
    }
}

void FN(nn_rope)(REAL *X, const int32_t *pos, int n, int n_head, int hd, REAL base,
                 int inverse)
{
    for (int t = 0; t < n; t++)
        for (int i = 0; i < hd / 2; i++) {
            double theta = pos[t] * pow((double)base, -2.0 * i / hd);
            REAL c = (REAL)cos(theta), s = (REAL)sin(theta);
            if (inverse)
                s = -s;
            for (int h = 0; h < n_head; h++) {
                REAL *x = X + ((int64_t)t * n_head + h) * hd + 2 * i;
                REAL x0 = x[0], x1 = x[1];
                x[0] = x0 * c - x1 * s;
                x[1] = x0 * s + x1 * c;
            }
        }
}

void FN(nn_attn_fwd)(REAL *O, REAL *P, const REAL *Q, const REAL *K, const REAL *V, int n,
                     int n_head, int n_kv, int hd)
{
    REAL scale = (REAL)1 / sqrt((REAL)hd);
    int group = n_head / n_kv;
    for (int h = 0; h < n_head; h++) {
        int kv = h / group;
        for (int i = 0; i < n; i++) {
            REAL *p = P + ((int64_t)h * n + i) * n;
            const REAL *q = Q + ((int64_t)i * n_head + h) * hd;
            REAL mx = -INFINITY;
            for (int j = 0; j <= i; j++) {
                p[j] = FN(nn_dot)(q, K + ((int64_t)j * n_kv + kv) * hd, hd) * scale;
                if (p[j] > mx)
                    mx = p[j];
            }
            REAL sum = 0;
            for (int j = 0; j <= i; j++)
                sum += p[j] = (REAL)exp(p[j] - mx);
            for (int j = 0; j <= i; j++)
                p[j] /= sum;
            for (int j = i + 1; j < n; j++)
                p[j] = 0;
            REAL *o = O + ((int64_t)i * n_head + h) * hd;
            for (int e = 0; e < hd; e++)
                o[e] = 0;
            for (int j = 0; j <= i; j++)
                FN(nn_axpy)(o, p[j], V + ((int64_t)j * n_kv + kv) * hd, hd);
        }
    }
}

void FN(nn_attn_bwd)(REAL *dQ, REAL *dK, REAL *dV, const REAL *dO, const REAL *P,
                     const REAL *Q, const REAL *K, const REAL *V, int n, int n_head, int n_kv,
                     int hd)
{
    REAL scale = (REAL)1 / sqrt((REAL)hd);
    int group = n_head / n_kv;
    for (int h = 0; h < n_head; h++) {
        int kv = h / group;
        for (int i = 0; i < n; i++) {
            const REAL *p = P + ((int64_t)h * n + i) * n;
            const REAL *dout = dO + ((int64_t)i * n_head + h) * hd;
            const REAL *q = Q + ((int64_t)i * n_head + h) * hd;
            REAL *dq = dQ + ((int64_t)i * n_head + h) * hd;
            /* dP_ij = dO_i . V_j; dS = P (dP - sum P dP) */
            REAL dot_pdp = 0;
            for (int j = 0; j <= i; j++) {
                const REAL *vj = V + ((int64_t)j * n_kv + kv) * hd;
                dot_pdp += p[j] * FN(nn_dot)(dout, vj, hd);
            }
            for (int j = 0; j <= i; j++) {
                const REAL *vj = V + ((int64_t)j * n_kv + kv) * hd;
                const REAL *kj = K + ((int64_t)j * n_kv + kv) * hd;
                REAL dp = FN(nn_dot)(dout, vj, hd);
                REAL ds = p[j] * (dp - dot_pdp) * scale;
                FN(nn_axpy)(dV + ((int64_t)j * n_kv + kv) * hd, p[j], dout, hd);
                FN(nn_axpy)(dq, ds, kj, hd);
                FN(nn_axpy)(dK + ((int64_t)j * n_kv + kv) * hd, ds, q, hd);
            }
        }
    }
}

void FN(nn_swiglu_fwd)(REAL *A, const REAL *G, const REAL *U, int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        REAL s = (REAL)1 / ((REAL)1 + (REAL)exp(-G[i]));
        A[i] = G[i] * s * U[i];
    }
}

void FN(nn_swiglu_bwd)(REAL *dG, REAL *dU, const REAL *dA, const REAL *G, const REAL *U,
                       int64_t n)
{
    for (int64_t i = 0; i < n; i++) {
        REAL s = (REAL)1 / ((REAL)1 + (REAL)exp(-G[i]));
        dG[i] += dA[i] * U[i] * s * ((REAL)1 + G[i] * ((REAL)1 - s));
        dU[i] += dA[i] * G[i] * s;
    }
}

void FN(nn_router_fwd)(REAL *probs, int32_t *idx, REAL *w, const REAL *logits, int E, int k)
{
    REAL mx = logits[0], sum = 0;
    for (int e = 1; e < E; e++)
        if (logits[e] > mx)
            mx = logits[e];
    for (int e = 0; e < E; e++)
        sum += probs[e] = (REAL)exp(logits[e] - mx);
    for (int e = 0; e < E; e++)
        probs[e] /= sum;
    /* Top-k by repeated selection (k is small); the lower id wins a tie. */
    REAL wsum = 0;
    for (int r = 0; r < k; r++) {
        int best = -1;
        for (int e = 0; e < E; e++) {
            int taken = 0;
            for (int q = 0; q < r; q++)
                taken |= idx[q] == e;
            if (!taken && (best < 0 || probs[e] > probs[best]))
                best = e;
        }
        idx[r] = best;
        wsum += probs[best];
    }
    for (int r = 0; r < k; r++)
        w[r] = probs[idx[r]] / wsum;
}

void FN(nn_router_bwd)(REAL *dlogits, const REAL *dw, const REAL *dprobs, const REAL *probs,
                       const int32_t *idx, const REAL *w, int E, int k)
{
    enum { MAX_E = 256 };
    REAL dp[MAX_E];
    REAL S = 0, dww = 0;
    for (int r = 0; r < k; r++) {
        S += probs[idx[r]];
        dww += dw[r] * w[r];
    }
    for (int e = 0; e < E; e++)
        dp[e] = dprobs ? dprobs[e] : 0;
    for (int r = 0; r < k; r++)
        dp[idx[r]] += (dw[r] - dww) / S;
    REAL pdp = 0;
    for (int e = 0; e < E; e++)
        pdp += probs[e] * dp[e];
    for (int e = 0; e < E; e++)
        dlogits[e] += probs[e] * (dp[e] - pdp);
}

double FN(nn_xent)(REAL *dlogits, const REAL *logits, const int32_t *targets, int n, int V,
                   int n_total)
{
    double loss = 0;
    for (int t = 0; t < n; t++) {
        const REAL *l = logits + (int64_t)t * V;
        REAL *d = dlogits + (int64_t)t * V;
        REAL mx = l[0];
        for (int v = 1; v < V; v++)
            if (l[v] > mx)
                mx = l[v];
        double sum = 0;
        for (int v = 0; v < V; v++)
            sum += exp((double)(l[v] - mx));
        double lse = mx + log(sum);
        loss += lse - l[targets[t]];
        for (int v = 0; v < V; v++)
            d[v] = (REAL)(exp((double)l[v] - lse) / n_total);
        d[targets[t]] -= (REAL)1 / n_total;
    }
    return loss;
}

#undef FN
#undef NN_CAT
#undef NN_CAT2
