// Interpolation paths through latent space, as genviz.latent.interpolate and interpolate_grid compute them:
// linear, or spherical (slerp, Shoemake 1985) about the prior's centre, in double precision and rounded to
// float32 where genviz rounds; the ends are the endpoints exactly.

export type Method = "slerp" | "linear";

function lerp(a: ArrayLike<number>, b: ArrayLike<number>, t: number, out: Float32Array, at: number): void {
  for (let i = 0; i < a.length; i++) out[at + i] = a[i] + (b[i] - a[i]) * t;
}

/** `steps` latents (steps, d) from a to b inclusive. */
export function interpolate(a: Float32Array, b: Float32Array, steps: number, method: Method, centre: Float32Array): Float32Array {
  const d = a.length;
  const path = new Float32Array(steps * d);
  const ts = Array.from({ length: steps }, (_, i) => (steps === 1 ? 0 : i / (steps - 1)));
  const pa = Float64Array.from(a, (v, i) => (method === "linear" ? v : Math.fround(v - centre[i])));
  const pb = Float64Array.from(b, (v, i) => (method === "linear" ? v : Math.fround(v - centre[i])));
  const na = Math.hypot(...pa);
  const nb = Math.hypot(...pb);
  let omega = 0;
  if (method === "slerp" && na > 0 && nb > 0) {
    let dot = 0;
    for (let i = 0; i < d; i++) dot += (pa[i] / na) * (pb[i] / nb);
    omega = Math.acos(Math.min(1, Math.max(-1, dot)));
  }
  ts.forEach((t, s) => {
    const at = s * d;
    if (method === "linear") return lerp(a, b, t, path, at);
    if (omega < 1e-6) lerp(pa, pb, t, path, at); // (anti-)parallel or zero: the line is the limit
    else {
      const norm = na + (nb - na) * t;
      const wa = Math.sin((1 - t) * omega) / Math.sin(omega);
      const wb = Math.sin(t * omega) / Math.sin(omega);
      for (let i = 0; i < d; i++) path[at + i] = ((wa * pa[i]) / na + (wb * pb[i]) / nb) * norm;
    }
    for (let i = 0; i < d; i++) path[at + i] = centre[i] + path[at + i];
  });
  path.set(a, 0);
  path.set(b, (steps - 1) * d);
  return path;
}

/** A rows x cols grid (rows * cols, d) between four corners (4, d): top-left, top-right, bottom-left, bottom-right. */
export function interpolateGrid(corners: Float32Array, rows: number, cols: number, method: Method, centre: Float32Array): Float32Array {
  const d = centre.length;
  const corner = (k: number) => corners.subarray(k * d, (k + 1) * d);
  const left = interpolate(corner(0), corner(2), rows, method, centre);
  const right = interpolate(corner(1), corner(3), rows, method, centre);
  const grid = new Float32Array(rows * cols * d);
  for (let r = 0; r < rows; r++)
    grid.set(interpolate(left.subarray(r * d, (r + 1) * d), right.subarray(r * d, (r + 1) * d), cols, method, centre), r * cols * d);
  return grid;
}
