// A site's seeded noise: the standard normal draws behind a seed's latents, the same in every reader's browser.
// Not torch's generator: a seed in a site gives the same pictures in every browser, not those of the app's seed.

/** mulberry32 (Tommy Ettinger, public domain): 32-bit state, uniform floats in [0, 1). */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `count` standard normal draws from `seed` (Box-Muller on mulberry32's uniforms, two draws a pair), as float32. */
export function normals(seed: number, count: number): Float32Array {
  const random = mulberry32(seed);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i += 2) {
    const radius = Math.sqrt(-2 * Math.log(1 - random())); // 1 - u: in (0, 1], so the log is finite
    const angle = 2 * Math.PI * random();
    out[i] = radius * Math.cos(angle);
    if (i + 1 < count) out[i + 1] = radius * Math.sin(angle);
  }
  return out;
}
