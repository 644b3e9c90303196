#!/usr/bin/python3
# tools/fit_gelu.py — derives the coefficients of gelu_fast / normal_tail_fast in ops/cpu/fastmath.h.
#
# The normal tail Φ(−a), a ≥ 0, is written as u(a)^8 with u a degree-8 polynomial in a: the eighth
# root of the tail is close to a wide Gaussian (exp(−a²/16)), which a low-degree polynomial follows
# far better than the step-like erf itself. Beyond a = CUT the tail (< 2e-8) is taken as 0.
# u is a weighted minimax fit (Lawson's iteratively reweighted least squares on Chebyshev nodes,
# double precision) of the largest of: the gelu error / (1 + a); FLOOR × the absolute error of
# Φ(−a) (the backward uses Φ itself); LAMBDA × the relative error of Φ(−a) (the tail keeps a few
# digits). The script then checks the float32 evaluation (FMA Horner, three squarings) the way the
# C++ code computes it, on a grid over [−10, 10].
# Not a general fitting tool. Needs numpy: /usr/bin/python3 tools/fit_gelu.py
import math

import numpy as np
from numpy.polynomial import chebyshev, polynomial

DEGREE, POWER, CUT, FLOOR, LAMBDA = 8, 8, 5.5, 0.3, 1e-3

def tail(a):
    return 0.5 * np.vectorize(math.erfc)(a / math.sqrt(2.0))

def fit():
    n = 6000
    a = CUT * (1 - np.cos(np.pi * (np.arange(n) + 0.5) / n)) / 2  # Chebyshev nodes on [0, CUT]
    u = tail(a) ** (1.0 / POWER)
    # d(Φ(−a)) = POWER·u^(POWER−1)·du: weights turn |du| into the three errors above.
    absolute = POWER * u ** (POWER - 1) * np.maximum(a / (1 + a), FLOOR)
    weight = np.maximum(absolute, LAMBDA * POWER / u)
    basis = chebyshev.chebvander(2 * a / CUT - 1, DEGREE)  # well conditioned on [−1, 1]
    lawson = np.full(n, 1.0 / n)
    for _ in range(2000):
        s = np.sqrt(lawson) * weight
        coef = np.linalg.lstsq(basis * s[:, None], u * s, rcond=None)[0]
        err = np.abs(basis @ coef - u) * weight
        lawson *= err
        lawson /= lawson.sum()
    # Monomials in a itself (t = 2a/CUT − 1 substituted), so the kernel needs no shift.
    mono = polynomial.Polynomial(chebyshev.cheb2poly(coef))(polynomial.Polynomial([-1, 2 / CUT]))
    return mono.coef.astype(np.float32), err.max()

def fma32(x, y, z):  # one rounding, like vfmadd (float32 products are exact in double)
    return (x.astype(np.float64) * y + z).astype(np.float32)

def gelu32(x, c):
    a = np.abs(x)
    u = np.full_like(a, c[-1])
    for k in c[-2::-1]:
        u = fma32(u, a, k)
    for _ in range(int(math.log2(POWER))):
        u = u * u
    beyond = a > np.float32(CUT)
    relu = np.where(x < 0, np.float32(0), x)
    with np.errstate(all="ignore"):  # u overflows far beyond CUT, where it is not used
        return np.where(beyond, relu, fma32(-a, u, relu)), np.where(beyond, np.float32(0), u)

coefs, fit_error = fit()
print(f"// weighted fit error {fit_error:.2e}; coefficients of a^0 .. a^{DEGREE}:")
print(",\n".join(f"{k:.9e}f" for k in coefs))
x = np.linspace(-10, 10, 2_000_001).astype(np.float32)
xd = x.astype(np.float64)
g, t = gelu32(x, coefs)
true_tail = tail(np.abs(xd))
true_gelu = np.where(xd < 0, xd * true_tail, xd * (1 - true_tail))
inside = np.abs(xd) < CUT
print(f"float32 gelu: max |error| / (1 + |x|) = {(np.abs(g - true_gelu) / (1 + np.abs(xd))).max():.2e}")
print(f"float32 Φ(−|x|): max abs error {np.abs(t - true_tail).max():.2e}, "
      f"max relative error for |x| < {CUT}: {(np.abs(t - true_tail) / true_tail)[inside].max():.2e}")
