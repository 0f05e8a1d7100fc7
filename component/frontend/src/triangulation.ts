// Empty space on the map as a blend of its points: the Delaunay triangulation of the map's points (d3-delaunay),
// the triangle enclosing a position found by a visibility walk from the last one found (coherent mouse motion:
// usually 0 to 3 steps; Devillers, Pion & Teillaud, "Walking in a triangulation", 2002), and the position's
// barycentric weights in it. Outside the convex hull there is no triangle (the walk leaves through a hull edge).
import { Delaunay } from "d3-delaunay";

export interface Enclosing {
  triangle: [number, number, number]; // point indices
  weights: [number, number, number]; // barycentric, summing to 1, each >= 0 up to rounding
}

export class Triangulation {
  private readonly delaunay: Delaunay;
  private last = -1; // the triangle found last (its index: half-edges 3t, 3t+1, 3t+2)

  /** `xy`: (N, 2) positions, row-major. */
  constructor(private readonly xy: Float32Array) {
    this.delaunay = new Delaunay(Float64Array.from(xy));
  }

  private orient(a: number, b: number, x: number, y: number): number {
    const p = this.xy;
    return (p[2 * b] - p[2 * a]) * (y - p[2 * a + 1]) - (p[2 * b + 1] - p[2 * a + 1]) * (x - p[2 * a]);
  }

  /** The triangle enclosing (x, y) and the weights of its corners, or null outside the hull. */
  locate(x: number, y: number): Enclosing | null {
    const { triangles, halfedges, inedges } = this.delaunay;
    if (triangles.length === 0) return null;
    let t = this.last;
    if (t < 0) {
      const edge = inedges[this.delaunay.find(x, y)];
      t = edge >= 0 ? Math.floor(edge / 3) : 0;
    }
    const limit = triangles.length; // a walk visits each triangle at most once; more is a degenerate case
    for (let step = 0; step <= limit; step++) {
      let moved = false;
      for (let k = 0; k < 3; k++) {
        const e = 3 * t + k;
        const a = triangles[e];
        const b = triangles[k === 2 ? e - 2 : e + 1];
        const c = triangles[k === 0 ? e + 2 : e - 1];
        // (x, y) lies beyond edge a-b, on the side away from c: cross it.
        if (this.orient(a, b, x, y) * this.orient(a, b, this.xy[2 * c], this.xy[2 * c + 1]) < 0) {
          const twin = halfedges[e];
          if (twin < 0) {
            this.last = t;
            return null; // beyond a hull edge: outside the convex hull
          }
          t = Math.floor(twin / 3);
          moved = true;
          break;
        }
      }
      if (!moved) {
        this.last = t;
        return this.weigh(t, x, y);
      }
    }
    this.last = -1;
    return null;
  }

  private weigh(t: number, x: number, y: number): Enclosing {
    const tri = this.delaunay.triangles;
    const [a, b, c] = [tri[3 * t], tri[3 * t + 1], tri[3 * t + 2]];
    const p = this.xy;
    const [xa, ya, xb, yb, xc, yc] = [p[2 * a], p[2 * a + 1], p[2 * b], p[2 * b + 1], p[2 * c], p[2 * c + 1]];
    const d = (yb - yc) * (xa - xc) + (xc - xb) * (ya - yc);
    const wa = ((yb - yc) * (x - xc) + (xc - xb) * (y - yc)) / d;
    const wb = ((yc - ya) * (x - xc) + (xa - xc) * (y - yc)) / d;
    return { triangle: [a, b, c], weights: [wa, wb, 1 - wa - wb] };
  }
}

/** sum_i w_i z_{t_i}: the latent at a position, from its triangle's latents (`latents` (N, d) row-major). */
export function blend(latents: Float32Array, d: number, at: Enclosing): Float32Array {
  const z = new Float32Array(d);
  for (let k = 0; k < 3; k++) {
    const row = at.triangle[k] * d;
    const w = at.weights[k];
    for (let j = 0; j < d; j++) z[j] += w * latents[row + j];
  }
  return z;
}
