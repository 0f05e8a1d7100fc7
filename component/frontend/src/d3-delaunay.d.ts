// The part of d3-delaunay 6 (ISC, no bundled types) that triangulation.ts uses.
declare module "d3-delaunay" {
  export class Delaunay {
    constructor(points: Float64Array);
    points: Float64Array;
    triangles: Uint32Array; // 3 point indices per triangle
    halfedges: Int32Array; // the opposite half-edge of each, -1 on the hull
    inedges: Int32Array; // for each point, a half-edge ending at it (-1 for a coincident point)
    hull: Uint32Array;
    find(x: number, y: number, i?: number): number; // the nearest point
  }
}
