// Latents from the prior's noise, as genviz's GenerativeModel.prior_from_noise makes them: z = centre + eps *
// temperature * spread, or with truncation each entry of eps mapped into (-t, t) by the normal's inverse CDF,
// eps_t = Phi^-1(Phi(-t) + Phi(eps) * (1 - 2 Phi(-t))): an exact truncated normal draw that keeps each entry's
// quantile, so the grid changes smoothly with the threshold. Computed on the lower tail (odd symmetry), where
// both approximations below are accurate relative to the tail's mass.

/** erfc(x) for x >= 0: Numerical Recipes' Chebyshev fit (erfcc), fractional error below 1.2e-7. */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  const poly =
    -x * x - 1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
    t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  return t * Math.exp(poly);
}

/** Phi(x) for x <= 0: the standard normal's lower tail. */
function lowerTail(x: number): number {
  return 0.5 * erfc(-x / Math.SQRT2);
}

// Acklam's rational approximation of the normal quantile, relative error below 1.2e-9.
const A = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
const B = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
const C = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
const D = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];

/** Phi^-1(p) for 0 < p <= 0.5. */
function lowerQuantile(p: number): number {
  if (p < 0.02425) {
    const q = Math.sqrt(-2 * Math.log(p));
    return (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5]) /
      ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1);
  }
  const q = p - 0.5;
  const r = q * q;
  return ((((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q) /
    (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1);
}

/** eps mapped into (-threshold, threshold), keeping its quantile. */
export function truncate(eps: number, threshold: number): number {
  if (eps === 0) return 0;
  const below = lowerTail(-threshold);
  const inside = -lowerQuantile(below + lowerTail(-Math.abs(eps)) * (1 - 2 * below));
  return Math.sign(eps) * Math.min(inside, threshold);
}

export type PriorControl = "temperature" | "truncation";

/** (n, d) latents from (n, d) noise: centre + eps * temperature * spread, or centre + truncate(eps) * spread. */
export function priorLatents(
  noise: Float32Array,
  centre: Float32Array,
  spread: Float32Array,
  control: PriorControl,
  value: number,
): Float32Array {
  const d = centre.length;
  const z = new Float32Array(noise.length);
  for (let i = 0; i < noise.length; i++) {
    const k = i % d;
    const eps = control === "truncation" ? truncate(noise[i], value) : noise[i] * value;
    z[i] = centre[k] + eps * spread[k];
  }
  return z;
}
